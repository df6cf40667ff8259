/** One invalid setting: the environment variable at fault and a message that names it. */
export interface ConfigIssue {
  variable: string;
  message: string;
}

/**
 * An invalid configuration found at startup. The message has one line per issue, and each line
 * names the variable, its value (masked when it is secret) and what was expected.
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly issues: readonly ConfigIssue[];
  /** The variable of the first issue. */
  readonly variable: string;

  constructor(issues: readonly [ConfigIssue, ...ConfigIssue[]]) {
    super(issues.map((issue) => issue.message).join("\n"));
    this.issues = issues;
    this.variable = issues[0].variable;
  }
}
