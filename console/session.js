// What happens to the session that several modules hear of: its start and end (each module says
// what it starts, timers, sockets, reads, and what it stops, so signing in and out need not know
// them all) and each new list of conversations. A leaf module: it imports nothing.

const starts = [];
const ends = [];

export function onSessionStart(listener) {
  starts.push(listener);
}

export function onSessionEnd(listener) {
  ends.push(listener);
}

export function startSession() {
  for (const listener of starts) listener();
}

export function endSession() {
  for (const listener of ends) listener();
}

const listChanges = [];

// Called after each refresh of the list with the list before it (null the first time) and now.
export function onListChanged(listener) {
  listChanges.push(listener);
}

export function listChanged(before, now) {
  for (const listener of listChanges) listener(before, now);
}
