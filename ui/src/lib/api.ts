// The Tauri commands as typed functions, and every type they take or return: generated from the
// Rust commands by tauri-specta into ./bindings.ts (a Rust test fails when it is stale). This
// module only makes every failure a PosError: a command's own error already is one (a code the
// screens act on, a message a person reads); anything else (an unknown command, an argument of
// the wrong type, an ACL refusal) becomes one with the code INTERNAL.
import { commands as generated, type PosError } from "./bindings";

export type * from "./bindings";

export function asPosError(e: unknown): PosError {
  if (e && typeof e === "object" && "code" in e && "message" in e) return e as PosError;
  const text = typeof e === "string" ? e : e instanceof Error ? e.message : JSON.stringify(e);
  return { code: "INTERNAL", message: `Unexpected problem: ${text}`, details: null };
}

type Commands = typeof generated;

/** The generated commands; each rejects with a PosError. */
export const commands: Commands = Object.fromEntries(
  Object.entries(generated).map(([name, f]) => [
    name,
    async (...args: unknown[]) => {
      try {
        return await (f as (...a: unknown[]) => Promise<unknown>)(...args);
      } catch (e) {
        throw asPosError(e);
      }
    },
  ]),
) as Commands;
