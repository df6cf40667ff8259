/**
 * Worker thread of the sweep benchmark: parses the dataset once, then evaluates the combinations
 * of each round it is sent, either through `evaluateCombinations` with progress messages and a
 * cancellation check ("with-checks"), or in a bare loop over `createCombinationEvaluator`.
 */
import { parentPort, workerData } from "node:worker_threads";

import { loadCandleCsv } from "../../src/data/csv";
import { IndicatorCache, createCombinationEvaluator, evaluateCombinations } from "../../src/engine";
import { threadCpuMs } from "./measure";
import type { FromSweepWorker, SweepWorkerData, ToSweepWorker } from "./sweep-messages";

const port = parentPort;
if (port === null) throw new Error("sweep-worker must run as a worker thread");
const data = workerData as SweepWorkerData;

function send(message: FromSweepWorker): void {
  port?.postMessage(message);
}

async function main(): Promise<void> {
  const parseStarted = performance.now();
  const candles = await loadCandleCsv(data.datasetFile);
  send({ type: "ready", parseMs: performance.now() - parseStarted, bars: candles.length });

  let cancelled = false;
  port?.on("message", (message: ToSweepWorker) => {
    if (message.type === "exit") {
      cancelled = true;
      port.close();
      return;
    }
    void runRound(message);
  });

  async function runRound(message: Extract<ToSweepWorker, { type: "run" }>): Promise<void> {
    // A new cache per round, as a sweep job computes its indicators once per chunk.
    const indicators = new IndicatorCache(candles);
    const cpuBefore = threadCpuMs();
    const started = performance.now();
    let bestReturnPct: number | null = null;

    if (message.mode === "with-checks") {
      const outcome = await evaluateCombinations(candles, data.strategy, message.combinations, data.broker, {
        indicators,
        rankBy: "returnPct",
        top: 1,
        onProgress: (evaluated, total) => send({ type: "progress", round: message.round, evaluated, total }),
        isCancelled: () => cancelled,
      });
      bestReturnPct = outcome.results[0]?.stats.returnPct ?? null;
    } else {
      const evaluator = createCombinationEvaluator(candles, data.strategy, data.broker, indicators);
      for (const [index, combination] of message.combinations.entries()) {
        const returnPct = evaluator.evaluate(evaluator.parse(combination, index)).returnPct;
        if (returnPct !== null && (bestReturnPct === null || returnPct > bestReturnPct)) bestReturnPct = returnPct;
      }
    }

    send({
      type: "done",
      round: message.round,
      wallMs: performance.now() - started,
      cpuMs: threadCpuMs() - cpuBefore,
      evaluated: message.combinations.length,
      bestReturnPct,
    });
  }
}

void main();
