/** Text put in place of a secret. */
export const MASK = "****";

/**
 * Creates a function that replaces every occurrence of the given secrets with "****", as written
 * raw and percent-encoded (as in a URL). With `json: true` it looks for the forms a secret takes
 * inside a JSON string (quotes and backslashes escaped) instead of the raw form, so a log line
 * stays valid JSON. Empty secrets are ignored; with none left the function returns its input.
 */
export function createSecretScrubber(
  secrets: readonly string[],
  { json = false }: { json?: boolean } = {},
): (text: string) => string {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret === "") {
      continue;
    }
    forms.add(json ? JSON.stringify(secret).slice(1, -1) : secret);
    forms.add(encodeURIComponent(secret));
  }
  // Longer forms first, so a form that contains another is replaced whole.
  const ordered = [...forms].sort((a, b) => b.length - a.length);

  if (ordered.length === 0) {
    return (text) => text;
  }
  return (text) => {
    let scrubbed = text;
    for (const form of ordered) {
      if (scrubbed.includes(form)) {
        scrubbed = scrubbed.split(form).join(MASK);
      }
    }
    return scrubbed;
  };
}
