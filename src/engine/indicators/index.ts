/** Indicators computed once over a whole series, and the memoising cache that strategies receive. */
export { type IndicatorCacheOptions, IndicatorCache, type Indicators } from "./indicator-cache";
export { ema, sma, wilderAverage } from "./moving-averages";
export { type MacdLines, macd, rsi } from "./oscillators";
export { checkPeriod, crossover, crossunder, firstValidIndex } from "./series";
export { type BollingerBands, bollinger, bollingerFrom, stddev } from "./volatility";
