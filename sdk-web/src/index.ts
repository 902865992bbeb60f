/**
 * @px-platform/sdk — ESM entry for bundlers.
 *
 *   import { PX } from '@px-platform/sdk';
 *   PX.init({ apiKey: 'px_…', projectId: '…' });
 *   PX.track('signup', { plan: 'pro' });
 */
import { createPX } from './api';

export { createPX };
export type { Options, Properties, PXApi, PXEvent, Context, Stats } from './types';

/** The default tracker. Nothing runs until `PX.init()`. */
export const PX = /* @__PURE__ */ createPX();
export default PX;
