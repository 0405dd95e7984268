/** The API's event types (see `eventTypes`) after which a screen showing that kind of record
 * reads it again: shared by the lists and the Customer 360's sections, so they follow the same. */

/** A deal created, changed, moved, won or lost (the sales plugin). */
export const DEAL_EVENTS = [
  "deal.created",
  "deal.updated",
  "deal.stage_changed",
  "deal.won",
  "deal.lost",
];

/** A task created, changed or come due (the sales plugin): `due` turns it overdue. */
export const TASK_EVENTS = ["task.created", "task.updated", "task.due"];

/** A ticket opened, moved along, assigned, or its SLA at risk (the service plugin). */
export const TICKET_EVENTS = [
  "ticket.created",
  "ticket.status_changed",
  "ticket.assigned",
  "ticket.resolved",
  "ticket.sla_warning",
  "ticket.sla_breached",
];
