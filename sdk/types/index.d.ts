// Types for @impactdialing/sdk. Payloads use the protocol's names, as docs/events.md lists them.
import type { Socket, SocketOptions, ManagerOptions } from "socket.io-client";

export { renderMarkdown, escapeHtml } from "./markdown.js";

export const version: string;

export interface Options {
  /** The server's address, e.g. "https://dialer.example.org"; default: the page's own site. */
  url?: string;
  /** Connect at once (default true); otherwise call connect(). */
  autoConnect?: boolean;
  /** How long a command waits for its acknowledgement before rejecting with `timeout` (ms, default 20 000). */
  commandTimeout?: number;
  /** The first wait before trying again after a passing refusal (`server-busy`, `engine-unavailable`);
   * it doubles up to 10 s (ms, default 500). */
  retryFirstMs?: number;
  /** Passed to socket.io-client's io() (e.g. extraHeaders outside a browser). */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
}

export type ConnectionStatus = "connecting" | "connected" | "reconnecting" | "disconnected" | "failed";

/** What a command rejects with: the server's stable kebab-case `id` (`not-on-call`, `invalid-answers`, ...),
 * or the SDK's own: `not-connected`, `timeout`, `connection-failed`, `sign-out-failed`. */
export class ImpactDialerError extends Error {
  constructor(id: string, message: string, extra?: { command?: string; details?: unknown });
  readonly name: "ImpactDialerError";
  readonly id: string;
  readonly command?: string;
  readonly details?: unknown;
}

/** Every server event carries these. */
export interface Envelope {
  seq: number;
  at: string;
  session_id: number;
}

interface Emitter<Events> {
  on<K extends keyof Events>(name: K, listener: Events[K]): this;
  off<K extends keyof Events>(name: K, listener?: Events[K]): this;
  once<K extends keyof Events>(name: K, listener: Events[K]): this;
}

interface Channel {
  readonly url: string;
  readonly connection: ConnectionStatus;
  /** Why the connection failed (the server's refusal id, e.g. `not-signed-in`), when it did. */
  readonly connectionError: ImpactDialerError | null;
  /** The socket.io-client socket, for what the SDK does not cover. */
  readonly socket: Socket;
  connect(): this;
  disconnect(): this;
  /** Close and open the connection at once (after a session ended: a new session). */
  reopen(): this;
  /** Any command by its protocol name; the methods below are these. */
  command<T = Record<string, unknown>>(name: string, payload?: Record<string, unknown>): Promise<T>;
  /** Sign out (a caller's session ends on every device), then close the connection. */
  signOut(): Promise<void>;
}

// -- the caller ---------------------------------------------------------------------------------

export type CallerState = "ready" | "connecting" | "on_hold" | "previewing" | "dialing" | "on_call" | "transfer"
  | "wrap_up" | "ended";

export interface Campaign {
  id: number;
  name: string;
  dialer_mode: "preview" | "power" | "predictive";
  /** Whether callers may leave the campaign's voicemail message (dropMessage). */
  can_drop_voicemail: boolean;
}
export interface Response { id: number; value: string; keypad: string | null; retry: boolean }
export interface Question { id: number; text: string; responses: Response[] }
export interface Script {
  id: number | null;
  name: string;
  texts: { id: number; content: string }[];
  questions: Question[];
  notes: { id: number; text: string }[];
  transfers: { id: number; label: string; kind: "warm" | "cold" }[];
}
export interface Lead { id: number; fields: Record<string, string | null>; custom_fields: Record<string, unknown> }
export interface Household { id: number; phone: string; leads: Lead[] }
export interface DialIn { number: string | null; pin: string }
export interface CallingHours { open: boolean; closes_at: string | null; opens_at: string | null }
export interface Call {
  call_id: string;
  /** dialing, ringing, connected, then how it ended (completed, busy, no_answer, failed, machine,
   * voicemail_left, abandoned, cancelled), or wrap_up from a snapshot. */
  status: string;
  since?: string;
  ended_by?: "lead" | "caller" | "system" | null;
  ended_at?: string;
  lead_ids?: number[];
}
export interface Transfer { transfer_id: number; kind: "warm" | "cold"; label: string; status: "dialing" | "connected" }

/** The caller's session as the server's events describe it. */
export interface CallerSessionState {
  session_id: number | null;
  state: CallerState | null;
  caller: { id: number; name: string; username: string } | null;
  campaign: Campaign | null;
  script: Script | null;
  dial_in: DialIn | null;
  calling_hours: CallingHours | null;
  household: Household | null;
  call: Call | null;
  transfer: Transfer | null;
  /** A script or campaign change waiting for the next lead. */
  pending: { script?: Script; campaign?: Campaign } | null;
  ended: { reason: string | null; at: string } | null;
  last_seq: number;
}

export interface CallerEvents {
  session_started(data: Envelope & { caller: CallerSessionState["caller"]; campaign: Campaign; script: Script; dial_in: DialIn }): void;
  state_changed(data: Envelope & { state: CallerState; previous: CallerState; reason: string }): void;
  lead_presented(data: Envelope & { household: Household }): void;
  call_dialing(data: Envelope & { call_id: string; household: Household }): void;
  call_ringing(data: Envelope & { call_id: string }): void;
  call_connected(data: Envelope & { call_id: string; household: Household }): void;
  call_ended(data: Envelope & { call_id: string; status: string; by: "lead" | "caller" | "system" }): void;
  results_saved(data: Envelope & { call_id: string; lead_id: number; retry: boolean }): void;
  transfer_dialing(data: Envelope & { transfer_id: number; kind: "warm" | "cold"; label: string }): void;
  transfer_connected(data: Envelope & { transfer_id: number; kind: "warm" | "cold" }): void;
  transfer_ended(data: Envelope & { transfer_id: number; kind: "warm" | "cold"; status: string }): void;
  script_changed(data: Envelope & { script: Script }): void;
  campaign_changed(data: Envelope & { campaign: Campaign; script: Script }): void;
  calling_hours(data: Envelope & CallingHours): void;
  session_ended(data: Envelope & { reason: string }): void;
  snapshot(data: Envelope & { state: CallerState; household: Household | null; call: Call | null;
    transfer: Transfer | null; campaign: Campaign; script: Script; last_seq: number }): void;
  /** The caller's state changed (always the server's). */
  state(state: CallerState, detail: { previous: CallerState | null; reason: string | null }): void;
  connection(status: ConnectionStatus, detail?: unknown): void;
  /** Every server event, after its own listeners. */
  event(name: string, data: Envelope & Record<string, unknown>): void;
  /** The whole session, after each event. */
  change(session: CallerSessionState): void;
  /** A resync that failed. */
  error(error: ImpactDialerError): void;
}

export interface Submission {
  /** question id -> response id; required by the page, checked against the script by the server */
  answers?: Record<string | number, number>;
  /** note id -> text */
  notes?: Record<string | number, string>;
  then?: "continue" | "stop";
  /** Default: the call in wrap-up. */
  call_id?: string;
  /** Default: its household's first lead. */
  lead_id?: number;
  /** Idempotency key; default: one per call, the same on every retry. */
  key?: string;
}

export interface CallerDevice extends Channel, Emitter<CallerEvents> {}
export class CallerDevice {
  constructor(options?: Options);
  readonly session: CallerSessionState;
  readonly state: CallerState | null;
  start(options?: { phone?: string; dial_in?: boolean }): Promise<{ dial_in?: DialIn }>;
  dial(): Promise<{ call_id: string }>;
  skip(): Promise<Record<string, unknown>>;
  hangup(): Promise<{ call_id: string }>;
  transfer(transferId: number): Promise<{ transfer_id: number }>;
  kick(party: "caller" | "transfer"): Promise<Record<string, unknown>>;
  dropMessage(): Promise<Record<string, unknown>>;
  submit(results?: Submission): Promise<{ call_id: string; lead_id: number; retry: boolean }>;
  stop(): Promise<Record<string, unknown>>;
}

export function caller(options?: Options): CallerDevice;

// -- the supervisor -----------------------------------------------------------------------------

export type MonitorMode = "listen" | "coach" | "barge";
export const MODES: readonly MonitorMode[];

export interface SupervisorRef { id: number; name: string }
export interface AbandonmentWindow { abandoned: number; human_answered: number; rate: number }
export interface CampaignTile {
  campaign_id: number;
  name: string;
  dialer_mode: "preview" | "power" | "predictive";
  /** live sessions by state */
  callers: Partial<Record<Exclude<CallerState, "ended">, number>>;
  lines_ringing: number;
  households_left: number | null;
  abandonment: { limit: number; last_24_hours: AbandonmentWindow; last_30_days: AbandonmentWindow; over_limit: boolean } | null;
  /** the pacer's latest decision (predictive) */
  pacer: { lines_to_dial: number; reason: string; at: string } | null;
}
export interface CallerRow {
  session_id: number;
  caller: { id: number; name: string; username: string };
  campaign_id: number;
  state: Exclude<CallerState, "ended">;
  /** since when it is in that state */
  since: string;
  lead_phone: string | null;
  monitors: { supervisor: SupervisorRef; mode: MonitorMode }[];
}
export interface FloorState {
  stream: string | null;
  last_seq: number;
  campaigns: Record<number, CampaignTile>;
  sessions: Record<number, CallerRow>;
  recording: boolean;
  supervisor: { id: number; name: string; role: "admin" | "supervisor"; phone_endpoint: boolean;
    monitoring: number | null; mode?: MonitorMode | null } | null;
  dial_in_number: string | null;
  phone_connected: boolean;
}
export interface FloorEnvelope { seq: number; at: string }

export interface SupervisorEvents {
  floor(data: FloorEnvelope & { stream: string; campaigns: CampaignTile[]; sessions: CallerRow[]; recording: boolean;
    supervisor: FloorState["supervisor"]; dial_in_number: string | null }): void;
  session_updated(data: FloorEnvelope & { session: CallerRow }): void;
  session_ended(data: FloorEnvelope & { session_id: number; reason: string }): void;
  campaign_updated(data: FloorEnvelope & { campaign: CampaignTile }): void;
  campaign_removed(data: FloorEnvelope & { campaign_id: number }): void;
  monitoring_changed(data: FloorEnvelope & { session_id: number; supervisor: SupervisorRef; mode: MonitorMode | null; reason: string }): void;
  phone_changed(data: FloorEnvelope & { supervisor: SupervisorRef; connected: boolean }): void;
  recording_changed(data: FloorEnvelope & { enabled: boolean }): void;
  /** The whole floor, after each event. */
  change(floor: FloorState): void;
  connection(status: ConnectionStatus, detail?: unknown): void;
  event(name: string, data: FloorEnvelope & Record<string, unknown>): void;
  error(error: ImpactDialerError): void;
}

export interface SupervisorConsole extends Channel, Emitter<SupervisorEvents> {}
export class SupervisorConsole {
  constructor(options?: Options);
  readonly floor: FloorState;
  /** by name */
  readonly campaigns: CampaignTile[];
  /** oldest first */
  readonly sessions: CallerRow[];
  monitor(sessionId: number, mode?: MonitorMode): Promise<{ session_id: number; mode: MonitorMode }>;
  stopMonitoring(): Promise<Record<string, unknown>>;
  kick(sessionId: number): Promise<Record<string, unknown>>;
  reassign(sessionId: number, campaignId: number): Promise<Record<string, unknown>>;
  setRecording(enabled: boolean): Promise<Record<string, unknown>>;
  dialIn(): Promise<{ number: string; pin: string; expires_in: number }>;
}

export function supervisor(options?: Options): SupervisorConsole;

declare const ImpactDialer: {
  version: string;
  caller: typeof caller;
  supervisor: typeof supervisor;
  MODES: typeof MODES;
  ImpactDialerError: typeof ImpactDialerError;
  renderMarkdown: (source: string | null | undefined) => string;
};
export default ImpactDialer;
