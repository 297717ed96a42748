// The upload progress bar on stderr (bytes, rate, ETA), shown only on a terminal.
import cliProgress from 'cli-progress';
import { formatBytes } from './format.js';

export interface Progress {
  /** `n` more bytes were read */
  tick(n: number): void;
  stop(): void;
}

const NO_PROGRESS: Progress = { tick: () => {}, stop: () => {} };

export function progressBar(label: string, total: number, enabled = Boolean(process.stderr.isTTY)): Progress {
  if (!enabled || total <= 0) return NO_PROGRESS;
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {value}/{total} | {rate} | ETA {eta_formatted}`,
      formatValue: (v, options, type) =>
        type === 'value' || type === 'total'
          ? formatBytes(v)
          : cliProgress.Format.ValueFormat(v, options, type),
      stream: process.stderr,
      hideCursor: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let value = 0;
  bar.start(total, 0, { rate: '-' });
  return {
    tick(n) {
      value = Math.min(value + n, total);
      const seconds = (Date.now() - started) / 1000;
      bar.update(value, { rate: seconds > 0 ? `${formatBytes(value / seconds)}/s` : '-' });
    },
    stop: () => bar.stop(),
  };
}
