/**
 * Typed failures. Each carries what a person needs to act on it; `retryable: false` means retrying the same
 * input can never succeed (bad data, bad spec, corrupt artifact), so activities turn it into a non-retryable
 * Temporal failure of the same type name.
 */
export abstract class LumenError extends Error {
  abstract readonly retryable: boolean;
  constructor(
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The model spec (or another declared config) is invalid. */
export class SpecError extends LumenError {
  readonly retryable = false;
}

/** A data source cannot be read as declared: missing file, unreadable or truncated format. */
export class SourceError extends LumenError {
  readonly retryable = false;
}

/** A dataset violates its contract (columns, types, label, row count). */
export class DataValidationError extends LumenError {
  readonly retryable = false;
}

/** An artifact's bytes do not match the digest it was registered with. */
export class ArtifactIntegrityError extends LumenError {
  readonly retryable = false;
}

/** The champion changed between evaluation and promotion; the decision was made against stale state. */
export class ChampionChangedError extends LumenError {
  readonly retryable = false;
}

/** Something the registry was asked for does not exist. */
export class NotFoundError extends LumenError {
  readonly retryable = false;
}

/** A request conflicts with a decision already recorded (e.g. releasing a batch that was discarded). */
export class ConflictError extends LumenError {
  readonly retryable = false;
}

/** A model artifact did not verify, load and predict its canary in a fresh process. */
export class LoadCheckFailed extends LumenError {
  readonly retryable = false;
}

/** Training produced a loss that is not a number: the same data, spec and seed would diverge again. */
export class TrainingDiverged extends LumenError {
  readonly retryable = false;
}

/** The work would need more memory than this process is given: it is refused before it starts, not killed midway. */
export class ResourceLimitError extends LumenError {
  readonly retryable = false;
}

/** A person's decision was refused: unsigned, wrongly signed, replayed, a revoked key, or a role too low. */
export class AccessDenied extends LumenError {
  readonly retryable = false;
}

/**
 * A run's spec would loosen the model's registered policy (its gate, approvals or monitor), or a run was started by a
 * schedule or inbox watch no verified decision created: refused before any data is read.
 */
export class PolicyViolation extends LumenError {
  readonly retryable = false;
}

/**
 * Lumen could not write where it keeps its files: the disk is full, the volume read-only, a quota reached, the
 * permission refused. Retryable — an operator can free space or remount, and the next attempt goes on — and said at
 * the first occurrence (a critical alert: activities/store-failures.ts).
 */
export class StoreWriteError extends LumenError {
  readonly retryable = true;
}
