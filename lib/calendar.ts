/** Calendar parts of wall-clock timestamps (epoch milliseconds, as stored), as features read them. */

export type CalendarPart = 'hourOfDay' | 'dayOfWeek' | 'month';

const MS_PER_HOUR = 3_600_000;
const MS_PER_DAY = 86_400_000;

/** slots of a one-hot part, and the period of a cyclical one */
export const PERIOD = { hourOfDay: 24, dayOfWeek: 7, month: 12 } as const;

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** Index of the one-hot slot for a timestamp part; -1 (all zeros) when the timestamp is missing. */
export function timePart(kind: CalendarPart, epochMs: number): number {
  if (!Number.isFinite(epochMs)) return -1;
  switch (kind) {
    case 'hourOfDay':
      return (((Math.floor(epochMs / MS_PER_HOUR) % 24) + 24) % 24) | 0;
    case 'dayOfWeek':
      // 1970-01-01 was a Thursday, i.e. index 3 with Monday = 0.
      return ((((Math.floor(epochMs / MS_PER_DAY) + 3) % 7) + 7) % 7) | 0;
    case 'month':
      return new Date(epochMs).getUTCMonth();
  }
}

/** How a part's index reads in a cross's category: hour "7", weekday "mon", month "1". */
export function partLabel(kind: CalendarPart, index: number): string {
  return kind === 'dayOfWeek' ? WEEKDAYS[index] : String(kind === 'month' ? index + 1 : index);
}

/** The index a label stands for; -1 for a label no timestamp gives. */
export function partIndex(kind: CalendarPart, label: string): number {
  const i =
    kind === 'dayOfWeek'
      ? WEEKDAYS.indexOf(label)
      : /^\d+$/.test(label)
        ? Number(label) - (kind === 'month' ? 1 : 0)
        : -1;
  return i >= 0 && i < PERIOD[kind] ? i : -1;
}
