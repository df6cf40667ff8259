/**
 * Invalid backtest input: an unknown strategy, a bad parameter or a bad broker option. The server
 * responds with 400 and `validation_failed`, pointing at `field`.
 */
export class EngineInputError extends Error {
  override readonly name = "EngineInputError";

  /**
   * @param field Path of the offending input, such as `strategy`, `params.fast` or `broker.cash`.
   * @param message What is wrong, with the value received and what to send instead.
   */
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}
