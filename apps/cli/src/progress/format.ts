const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** `512 B`, `12.3 MiB`: binary units, one decimal above bytes. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** What the renderers know about a step's progress so far, to derive rate and ETA. */
export interface ProgressSample {
  done: number;
  total?: number | undefined;
  unit?: 'bytes' | 'items' | undefined;
  /** Event time (ms) and amount of the first sample of the step, for the average rate. */
  firstTime: number;
  firstDone: number;
  time: number;
}

/**
 * One line for a step's progress (`barWidth` 0 leaves the bar out): for bytes a bar with amounts, rate and ETA
 * (`[██████░░░░░░] 12.3 MiB / 40.0 MiB · 3.1 MiB/s · ETA 9s`), for items `3/10`.
 */
export function formatProgress(sample: ProgressSample, barWidth = 20): string {
  const { done, total } = sample;
  const fraction = total ? Math.min(1, done / total) : undefined;
  const bar = fraction === undefined || barWidth === 0 ? '' : `[${'█'.repeat(Math.round(fraction * barWidth)).padEnd(barWidth, '░')}] `;
  if (sample.unit !== 'bytes') return `${bar}${done}${total === undefined ? '' : `/${total}`}`;
  const parts = [`${bar}${formatBytes(done)}${total === undefined ? '' : ` / ${formatBytes(total)}`}`];
  const seconds = (sample.time - sample.firstTime) / 1000;
  const rate = seconds > 0 ? (done - sample.firstDone) / seconds : 0;
  if (rate > 0) {
    parts.push(`${formatBytes(rate)}/s`);
    if (total !== undefined && total > done) parts.push(`ETA ${formatEta((total - done) / rate)}`);
  }
  return parts.join(' · ');
}

function formatEta(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(Math.ceil(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}
