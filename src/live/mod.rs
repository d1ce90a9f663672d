//! Live queries: `query @live { … }` stays open, answering its full result at once and a
//! new one whenever an event of its practice changes it. Pushed from the event log, never
//! polled: the practice's hub (`hub::live_queries`) re-executes a live query only when an event
//! touches what its last result was made of, once for all its subscribers, and sends a
//! result only when its bytes changed. Each result carries `extensions.revision`, the
//! practice seq it reflects, from which a client resumes.
//!
//! `directive` is what a document asks of `@live` (the directive's registration in the
//! schema, and reading it off a request, are `graphql::live`'s), `track` which resources
//! a result read, `patch` the jsondiffpatch deltas sent on request.

mod directive;
mod patch;
mod track;

pub use directive::{Format, Live, parse_revision, revision};
pub use patch::diff;
pub use track::{Reads, Types};
