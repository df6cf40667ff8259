/**
 * A latency histogram with fixed log-linear buckets, in the manner of HdrHistogram: exact to the
 * microsecond below 64 µs, then 64 buckets per power of two, so every percentile is within
 * 1.6 % of the recorded value. Recording is one array increment; histograms of several load
 * generators merge by adding their counts.
 */

const SUB_BUCKET_BITS = 6;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;
/** Values up to 2^31 µs (about 36 minutes); larger ones are clamped into the last bucket. */
const MAX_MICROSECONDS = 2 ** 31 - 1;
const BUCKETS = SUB_BUCKETS + (31 - SUB_BUCKET_BITS) * SUB_BUCKETS;

function bucketOf(microseconds: number): number {
  if (microseconds < SUB_BUCKETS) return microseconds;
  const exponent = 31 - Math.clz32(microseconds);
  const shift = exponent - SUB_BUCKET_BITS;
  return SUB_BUCKETS + shift * SUB_BUCKETS + ((microseconds >>> shift) - SUB_BUCKETS);
}

/** Returns the largest value, in microseconds, that falls into `bucket`. */
function upperBoundOf(bucket: number): number {
  if (bucket < SUB_BUCKETS) return bucket;
  const shift = Math.floor((bucket - SUB_BUCKETS) / SUB_BUCKETS);
  const sub = ((bucket - SUB_BUCKETS) % SUB_BUCKETS) + SUB_BUCKETS;
  return (sub + 1) * 2 ** shift - 1;
}

/** The serializable form sent from a load generator to the coordinator. */
export interface HistogramData {
  /** Counts per bucket, as [bucket, count] pairs of the non-empty buckets. */
  buckets: [number, number][];
  count: number;
  maxMs: number;
}

export class LatencyHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  count = 0;
  maxMs = 0;

  /** Records one latency in milliseconds; negative values (clock noise) count as 0. */
  record(ms: number): void {
    const microseconds = Math.min(MAX_MICROSECONDS, Math.max(0, Math.round(ms * 1000)));
    const bucket = bucketOf(microseconds);
    this.counts[bucket] = (this.counts[bucket] ?? 0) + 1;
    this.count += 1;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  /** Records `times` equal latencies at once, for all the frames of one read. */
  recordMany(ms: number, times: number): void {
    const microseconds = Math.min(MAX_MICROSECONDS, Math.max(0, Math.round(ms * 1000)));
    const bucket = bucketOf(microseconds);
    this.counts[bucket] = (this.counts[bucket] ?? 0) + times;
    this.count += times;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  merge(data: HistogramData): void {
    for (const [bucket, count] of data.buckets) this.counts[bucket] = (this.counts[bucket] ?? 0) + count;
    this.count += data.count;
    this.maxMs = Math.max(this.maxMs, data.maxMs);
  }

  /** Returns the latency in milliseconds below which `percent` of the recorded values fall; 0 when empty. */
  percentileMs(percent: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil((percent / 100) * this.count);
    let seen = 0;
    for (let bucket = 0; bucket < BUCKETS; bucket += 1) {
      seen += this.counts[bucket] ?? 0;
      if (seen >= rank) return Math.min(upperBoundOf(bucket) / 1000, this.maxMs);
    }
    return this.maxMs;
  }

  toData(): HistogramData {
    const buckets: [number, number][] = [];
    this.counts.forEach((count, bucket) => {
      if (count > 0) buckets.push([bucket, count]);
    });
    return { buckets, count: this.count, maxMs: this.maxMs };
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.maxMs = 0;
  }
}

/** p50, p99 and max of a histogram, in milliseconds. */
export interface LatencySummary {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  samples: number;
}

export function summarize(histogram: LatencyHistogram): LatencySummary {
  return {
    p50Ms: Math.round(histogram.percentileMs(50) * 1000) / 1000,
    p99Ms: Math.round(histogram.percentileMs(99) * 1000) / 1000,
    maxMs: Math.round(histogram.maxMs * 1000) / 1000,
    samples: histogram.count,
  };
}
