// The board's state: the day's appointments by provider and the payments feed, changed
// only by applying events. Every event is applied once (by seq), and an appointment only
// moves forward (by version), so a replay that overlaps the loaded snapshot changes nothing.
import { clock } from './time.js';

export class Board {
  constructor({ practice, providers, range }) {
    this.practice = practice;
    this.providers = providers;
    this.range = range;
    this.appointments = new Map();
    this.startingSoon = new Set();
    this.fresh = new Set();
    this.payments = [];
    this.seen = new Set();
    this.lastCursor = practice.lastCursor;
    this.lastSeq = 0;
  }

  load(appointments) {
    for (const appointment of appointments) this.upsert(appointment);
  }

  upsert(appointment) {
    const current = this.appointments.get(appointment.id);
    if (current && current.version > appointment.version) return;
    const startsAt = new Date(appointment.startsAt);
    if (startsAt < this.range.from || startsAt >= this.range.to) {
      this.appointments.delete(appointment.id); // rescheduled to another day
      return;
    }
    this.appointments.set(appointment.id, appointment);
  }

  /** Applies one event; false when it was already applied. */
  apply(event) {
    if (this.seen.has(event.seq)) return false;
    this.seen.add(event.seq);
    this.lastCursor = event.cursor;
    this.lastSeq = Math.max(this.lastSeq, event.seq);
    switch (event.type) {
      case 'APPOINTMENT_SCHEDULED':
        this.upsert(event.appointment);
        this.fresh.add(event.appointment.id);
        break;
      case 'APPOINTMENT_RESCHEDULED':
      case 'APPOINTMENT_CANCELLED':
      case 'APPOINTMENT_COMPLETED':
        this.upsert(event.appointment);
        break;
      case 'APPOINTMENT_STARTING_SOON':
        this.upsert(event.appointment);
        this.startingSoon.add(event.appointment.id);
        break;
      case 'PAYMENT_POSTED':
        this.payments.unshift({ seq: event.seq, payment: event.payment, patient: event.patient });
        break;
      default:
        break;
    }
    return true;
  }

  render(board, payments) {
    const tz = this.practice.timezone;
    const byProvider = new Map(this.providers.map((p) => [p.id, []]));
    for (const a of this.appointments.values()) {
      if (!byProvider.has(a.provider.id)) byProvider.set(a.provider.id, []);
      byProvider.get(a.provider.id).push(a);
    }
    board.replaceChildren(
      ...[...byProvider.entries()].map(([providerId, list]) => {
        const provider = this.providers.find((p) => p.id === providerId) ?? { name: 'Other', kind: '' };
        const column = el('div', { class: 'provider', 'data-provider': providerId });
        column.append(el('h2', {}, provider.name, ' ', el('small', {}, provider.kind.toLowerCase())));
        const items = el('ol');
        list.sort((a, b) => a.startsAt.localeCompare(b.startsAt));
        for (const a of list) items.append(this.appointmentItem(a, tz));
        if (!list.length) items.append(el('li', { class: 'empty' }, 'No appointments'));
        column.append(items);
        return column;
      }),
    );
    const money = new Intl.NumberFormat(undefined, { style: 'currency', currency: this.practice.currency });
    payments.replaceChildren(
      ...this.payments.map(({ seq, payment, patient }) =>
        el('li', { class: 'payment', 'data-seq': String(seq), 'data-id': payment.id },
          el('span', { class: 'who' }, `${patient.firstName} ${patient.lastName}`, ' ', el('small', {}, payment.method.toLowerCase())),
          el('span', { class: 'amount' }, money.format(payment.amountCents / 100)),
        ),
      ),
    );
    this.fresh.clear();
  }

  appointmentItem(a, tz) {
    const classes = ['appointment', a.status.toLowerCase()];
    if (this.fresh.has(a.id)) classes.push('fresh');
    const item = el('li', { class: classes.join(' '), 'data-id': a.id, 'data-status': a.status },
      el('time', { datetime: a.startsAt }, clock(a.startsAt, tz)),
      el('span', { class: 'patient' }, `${a.patient.firstName} ${a.patient.lastName}`),
    );
    const patient = item.querySelector('.patient');
    if (this.startingSoon.has(a.id) && a.status === 'SCHEDULED') patient.append(el('span', { class: 'badge soon' }, 'starting soon'));
    if (a.status === 'COMPLETED') patient.append(el('span', { class: 'badge done' }, 'done'));
    const reason = a.status === 'CANCELLED' ? `cancelled${a.cancellationReason ? `: ${a.cancellationReason}` : ''}` : a.reason;
    if (reason) item.append(el('span', { class: 'reason' }, reason));
    return item;
  }
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}
