// The one error a builder throws on purpose: something in a baseline's spec that
// cannot be turned into objects for a particular namespace (a subject template
// naming a label the namespace does not carry, a name too long, an invalid
// quantity). It names the field so the condition and the Event can point at it.

export class SpecError extends Error {
  /** The path of the offending field, such as `spec.roleBindings[0].subjects[1].name`. */
  readonly field: string;
  /** What is wrong with it, without the path. */
  readonly reason: string;

  constructor(field: string, reason: string) {
    super(`${field}: ${reason}`);
    this.name = 'SpecError';
    this.field = field;
    this.reason = reason;
  }
}
