/**
 * Script-tag entry: defines window.PX and replays the calls the snippet queued in `PX.q`
 * before the script loaded (debug and init first, then the rest in order).
 */
import { createPX } from './api';

const w = window as any, prev = w.PX;
if (!prev || prev.q) {
  const px: any = (w.PX = createPX()), q: [string, unknown[]][] = (prev && prev.q) || [];
  const first = (x: [string, unknown[]]) => x[0] == 'debug' || x[0] == 'init';
  q.filter(first).concat(q.filter((x) => !first(x))).forEach((x) => px[x[0]] && px[x[0]](...(x[1] || [])));
}
