// What every command module exports: main.ts dispatches to it and prints its help.
export interface Command {
  readonly summary: string;
  /** The help text; PROGRAM stands for the name the CLI was run as (`security-baseline`, `kubectl sbl`). */
  readonly usage: string;
  /** Returns the exit code. */
  run(args: string[], program: string): Promise<number>;
}
