/*
 * The session rules of docs/sessions.md on one visitor's state, in memory:
 * no I/O.  session.c reads the states from Redis, runs every event of a
 * batch through px_session_assign() in order, and writes the states back.
 */
#ifndef PX_SESSION_RULES_H
#define PX_SESSION_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "event_row.h"
#include "px_buf.h"

typedef struct {
    char      sid[PX_SESSION_ID_LEN + 1];
    int64_t   start_ms;
    int64_t   last_ms;
    uint64_t  seq;
    int64_t   first_ms;   /* of the event that started it: never moves */
} px_session_t;

/* A visitor's current session and its other one (the one before the
 * current, or the latest late one). */
typedef struct {
    px_session_t  cur;
    px_session_t  other;
    int           has_cur;
    int           has_other;
} px_visitor_state_t;

typedef struct {
    int64_t  timeout_ms;   /* PX_SESSION_TIMEOUT */
    int64_t  max_ms;       /* PX_SESSION_MAX */
} px_session_rules_t;

/* Kinds of assignment (also counted by session.c). */
#define PX_KIND_NEW          'N'   /* a new session */
#define PX_KIND_CONTINUES    'C'   /* continues the current session */
#define PX_KIND_LATE         'L'   /* late, joined the current session */
#define PX_KIND_LATE_OTHER   'P'   /* late, joined the other session */
#define PX_KIND_LATE_OWN     'O'   /* late, a session of its own */

/*
 * The state from its Redis value "sid start last seq first[ sid start
 * last seq first]" (first may be missing: a value of an older worker).  A value that is not of that form counts as no state (the
 * visitor starts a new session), as an expired key would.
 */
void px_visitor_state_parse(px_visitor_state_t *v, const char *s,
    size_t len);

/* Append the state's Redis value (v->has_cur must be set). */
int px_visitor_state_format(px_buf_t *out, const px_visitor_state_t *v);

/*
 * The session id of a session started by an event: visitor is the
 * visitor key after "v:" ("<len>:<project_id>:<visitor>"), event the event
 * key after "e:" ("<len>:<project_id>:<event_id>").
 */
void px_session_id(char out[PX_SESSION_ID_LEN + 1], const char *visitor,
    size_t visitor_len, const char *event, size_t event_len);

/*
 * Assign a new event at ts_ms to a session of v and update v; *sid, *seq
 * and *first_ms (the time of the event that started that session)
 * receive the assignment.  Returns its kind (PX_KIND_*).  visitor
 * and event name it as px_session_id() wants, for a session it starts.
 */
int px_session_assign(px_visitor_state_t *v, const px_session_rules_t *r,
    int64_t ts_ms, const char *visitor, size_t visitor_len,
    const char *event, size_t event_len, const char **sid, uint64_t *seq,
    int64_t *first_ms);

#endif
