export const SPEC_PATH: string;
export function strictify<T>(schema: T): T;
export interface DoubleRoute {
  method: string;
  template: string;
  params: Record<string, string>;
  validate?: ((body: unknown) => boolean) & { errors?: unknown[] | null };
}
export function loadSpec(specPath?: string): (method: string, path: string) => DoubleRoute | undefined;
export interface DoubleRecord {
  method: string;
  path: string;
  contentLength?: string;
  body?: unknown;
  status: number;
  answer?: unknown;
}
export interface FirecrackerDouble {
  state: { started: boolean; paused: boolean };
  listen(): Promise<void>;
  close(): Promise<void>;
}
export function createFirecrackerDouble(options: {
  socketPath: string;
  instanceId?: string;
  failAt?: string;
  version?: string;
  specPath?: string;
  onRequest?: (record: DoubleRecord) => void;
  onStart?: (started: { bootArgs: string }) => void;
  onCtrlAltDel?: () => void;
  onRestore?: (restored: { snapshotPath: string; net?: { iface_id: string; host_dev_name: string }; vsockPath?: string; drives: Array<{ id: string; opened: string }> }) => void;
  onFatal?: () => void;
}): FirecrackerDouble;
