/** Where the CLI writes, and how: a terminal gets colours and a live view, a pipe plain lines. */
export interface Output {
  write(text: string): void;
  /** A terminal that understands cursor movement. */
  readonly isTty: boolean;
  /** Its width in columns (80 when unknown). */
  readonly columns: number;
  readonly color: boolean;
}

export function streamOutput(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): Output {
  const isTty = Boolean(stream.isTTY) && env.TERM !== 'dumb';
  return {
    write: (text) => void stream.write(text),
    isTty,
    get columns() {
      return stream.columns && stream.columns > 20 ? stream.columns : 80;
    },
    color: isTty && env.NO_COLOR === undefined,
  };
}

/** ANSI styles that vanish when colours are off. */
export function styles(color: boolean) {
  const wrap = (code: string) => (text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
  return {
    bold: wrap('1'),
    dim: wrap('2'),
    red: wrap('31'),
    green: wrap('32'),
    yellow: wrap('33'),
    cyan: wrap('36'),
  };
}

/** The visible width of a string with ANSI codes. */
export function visibleLength(text: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escape sequences
  return text.replace(/\x1b\[[0-9;]*m/g, '').length;
}

/** Cuts a line with ANSI codes to `width` visible characters (a wrapped line would break redrawing). */
export function truncate(text: string, width: number): string {
  if (visibleLength(text) <= width) return text;
  let visible = 0;
  let out = '';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching ANSI escape sequences
  for (const part of text.split(/(\x1b\[[0-9;]*m)/)) {
    if (part.startsWith('\x1b[')) {
      out += part;
      continue;
    }
    const room = width - 1 - visible;
    if (room <= 0) break;
    out += part.slice(0, room);
    visible += Math.min(part.length, room);
  }
  return text.includes('\x1b[') ? `${out}…\x1b[0m` : `${out}…`;
}
