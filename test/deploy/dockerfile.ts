/**
 * A reader of the Dockerfile subset that Backplane's Dockerfile uses, so that a test can follow the file outside
 * Docker. It handles comments, line continuations, stages and the exec (JSON) form; it does not expand variables
 * other than ARG defaults in FROM.
 */

export interface Instruction {
  /** Upper-case keyword, such as RUN or COPY. */
  keyword: string;
  /** The rest of the instruction, continuation lines joined with a space. */
  args: string;
  /** Line number of the keyword, from 1. */
  line: number;
}

export interface Stage {
  /** The name after `AS`, or undefined for an unnamed stage. */
  name: string | undefined;
  /** The image of `FROM`, with ARG defaults substituted. */
  base: string;
  instructions: Instruction[];
}

export interface CopyInstruction {
  /** The stage of `--from`, or undefined to copy from the build context. */
  from: string | undefined;
  sources: string[];
  destination: string;
}

export interface Healthcheck {
  /** The options before CMD, such as `{ interval: "15s" }`. */
  options: Record<string, string>;
  command: string[];
}

/** Splits a Dockerfile into instructions. Comment lines are dropped, also inside a continued instruction. */
export function parseDockerfile(text: string): Instruction[] {
  const instructions: Instruction[] = [];
  let pending: { parts: string[]; line: number } | undefined;

  text.split("\n").forEach((raw, index) => {
    const trimmed = raw.trim();
    if (trimmed.startsWith("#") || (trimmed === "" && pending === undefined)) return;

    const continues = trimmed.endsWith("\\");
    const content = continues ? trimmed.slice(0, -1).trim() : trimmed;
    pending ??= { parts: [], line: index + 1 };
    if (content !== "") pending.parts.push(content);
    if (continues) return;

    const joined = pending.parts.join(" ");
    const match = /^(\S+)\s*(.*)$/.exec(joined);
    if (match?.[1] !== undefined) {
      instructions.push({ keyword: match[1].toUpperCase(), args: match[2] ?? "", line: pending.line });
    }
    pending = undefined;
  });
  return instructions;
}

/** Groups instructions by FROM. ARG instructions before the first FROM provide defaults for FROM lines. */
export function splitStages(instructions: Instruction[]): Stage[] {
  const argDefaults = new Map<string, string>();
  const stages: Stage[] = [];

  for (const instruction of instructions) {
    if (instruction.keyword === "ARG" && stages.length === 0) {
      const [name, value] = splitOnce(instruction.args, "=");
      if (value !== undefined) argDefaults.set(name, value);
      continue;
    }
    if (instruction.keyword === "FROM") {
      const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
      if (match?.[1] === undefined) throw new Error(`line ${instruction.line}: cannot read FROM ${instruction.args}`);
      const base = match[1].replace(
        /\$\{(\w+)\}|\$(\w+)/g,
        (_whole, braced: string | undefined, bare: string | undefined) => {
          const name = braced ?? bare ?? "";
          return argDefaults.get(name) ?? "";
        },
      );
      stages.push({ name: match[2], base, instructions: [] });
      continue;
    }

    const current = stages.at(-1);
    if (current === undefined)
      throw new Error(`line ${instruction.line}: ${instruction.keyword} before the first FROM`);
    current.instructions.push(instruction);
  }
  return stages;
}

/** Parses the exec form `["a", "b"]`, or returns undefined for the shell form. */
export function parseExecForm(args: string): string[] | undefined {
  if (!args.trimStart().startsWith("[")) return undefined;
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((item): item is string => typeof item === "string")) {
    throw new Error(`not an exec form of strings: ${args}`);
  }
  return parsed;
}

/** Parses `ENV KEY=value KEY2=value2`; values may be double-quoted. The legacy `ENV KEY value` form is rejected. */
export function parseEnv(args: string): Record<string, string> {
  const env: Record<string, string> = {};
  const pattern = /(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g;
  let consumed = "";
  for (const match of args.matchAll(pattern)) {
    const [whole, name, value] = match;
    if (name === undefined || value === undefined) continue;
    env[name] = value.startsWith('"') ? (JSON.parse(value) as string) : value;
    consumed += whole;
  }
  if (consumed.replace(/\s/g, "") !== args.replace(/\s/g, ""))
    throw new Error(`cannot read ENV ${args}: use KEY=value pairs`);
  return env;
}

export function parseCopy(args: string): CopyInstruction {
  const words = args.split(/\s+/).filter((word) => word !== "");
  let from: string | undefined;
  const paths: string[] = [];
  for (const word of words) {
    if (word.startsWith("--from=")) from = word.slice("--from=".length);
    else if (word.startsWith("--")) throw new Error(`COPY option ${word} is not supported by this reader`);
    else paths.push(word);
  }

  const destination = paths.pop();
  if (destination === undefined || paths.length === 0)
    throw new Error(`COPY needs a source and a destination: ${args}`);
  return { from, sources: paths, destination };
}

export function parseHealthcheck(args: string): Healthcheck {
  const cmdAt = args.search(/\bCMD\b/);
  if (cmdAt < 0) throw new Error(`HEALTHCHECK without CMD: ${args}`);

  const options: Record<string, string> = {};
  for (const option of args
    .slice(0, cmdAt)
    .trim()
    .split(/\s+/)
    .filter((word) => word !== "")) {
    const [name, value] = splitOnce(option.replace(/^--/, ""), "=");
    options[name] = value ?? "";
  }
  const command = parseExecForm(args.slice(cmdAt + "CMD".length).trim());
  if (command === undefined) throw new Error("HEALTHCHECK CMD must use the exec form");
  return { options, command };
}

/**
 * Returns whether `path` (relative to the build context, with "/" separators) is left out by the .dockerignore
 * `patterns`. Supports `*`, `?`, `**`, `!` exceptions and directory patterns, which leave out everything below.
 */
export function isIgnored(path: string, patterns: readonly string[]): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;

    const negated = line.startsWith("!");
    const pattern = (negated ? line.slice(1) : line).replace(/^\/+/, "").replace(/\/+$/, "");
    const regex = globToRegExp(pattern);
    const segments = path.split("/");
    // A pattern that matches a folder leaves out everything inside it.
    const matches = segments.some((_segment, index) => regex.test(segments.slice(0, index + 1).join("/")));
    if (matches) ignored = !negated;
  }
  return ignored;
}

function globToRegExp(pattern: string): RegExp {
  let source = "";
  for (let index = 0; index < pattern.length; index += 1) {
    const char = pattern[index] ?? "";
    if (char === "*" && pattern[index + 1] === "*") {
      source += ".*";
      index += 1;
    } else if (char === "*") {
      source += "[^/]*";
    } else if (char === "?") {
      source += "[^/]";
    } else {
      source += char.replace(/[.+^${}()|[\]\\]/g, "\\$&");
    }
  }
  return new RegExp(`^${source}$`);
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator);
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + separator.length)];
}
