# Declarations for the compiled build (scripts/build_fast.py, `make fast`); engine.py stays the pure-Python
# source and the reference. Engine becomes an extension type: its attributes are C fields rather than a
# dictionary, and its steps call each other directly in C. An attribute added to engine.py but not here
# still works (the __dict__ below), only slower: declare it here when it is read on a hot path.
cimport cython
from journeyctl.engine.core.timers cimport TimerQueue
from journeyctl.engine.core.events cimport Event
from journeyctl.engine.core.state cimport Customer, Instance
from journeyctl.engine.core.runtime cimport Journey, Step
from journeyctl.engine.core.expr cimport context, event_of
from journeyctl.engine.core.actions cimport new_action
from journeyctl.engine.core.stats cimport Stats

cpdef object _ok(object pred, object ctx)
cpdef _assign(dict profile, object path, object value)
cpdef bint _matched(list matchers, object name, object ctx) except -1

@cython.final
cdef class Engine:
    cdef dict __dict__
    cdef public object store
    cdef public dict _resident
    cdef public object dedup_window
    cdef public long long _keep_ids
    cdef public object explain
    cdef public dict lanes
    cdef public object caught_up
    cdef public long long watermark   # (UNKNOWN while not known: never None) and the lateness, C integers:
    cdef public dict parking
    cdef public list parked
    cdef public list date_journeys
    cdef public object aggregates
    cdef public dict channels
    cdef public object default_timezone
    cdef public long long lateness    # the watermark minus the lateness is worked out in C for every event
    cdef public Stats stats
    cdef public object trace_customer
    cdef public list trace
    cdef public object _window_epoch
    cdef public list profile_records
    cdef public object sync_profiles
    cdef public dict versions
    cdef public dict current
    cdef public dict by_trigger
    cdef public list segments
    cdef public list _segment_irs
    cdef public object last_seen_names
    cdef public dict last_props_names
    cdef public dict _agg_readers
    cdef public object listened
    cdef public object relevant
    cdef public dict _routes
    cdef public object _seg_always
    cdef public object _seg_profile
    cdef public object _all_segments
    cdef public dict _seg_by_event
    cdef public dict _windows
    cdef public object _empty_members
    cdef public dict _by_mask
    cdef public object _segment_events_read
    cdef public object clock
    cdef public TimerQueue _timers
    cdef public dict _scheduled

    @cython.locals(cust=Customer, known=Customer, seen=dict, resident=dict, oldest=cython.longlong)
    cpdef list process(self, Event ev, lane=*)
    cpdef follow(self, clock)
    cpdef Customer _new_customer(self)
    cpdef bint _seen_before(self, dict seen, msg, first, t) except -1
    cpdef _forget_ids(self, dict seen, t)
    cpdef _advance(self, lane, t, was)
    cpdef bint _fire_dates(self, cid, Customer cust, before, list out) except -1
    cpdef Journey _version(self, version)
    @cython.locals(cust=Customer)
    cpdef _fire_due(self, upto, list out)
    @cython.locals(i=Instance, inst=Instance)
    cpdef _fire_customer(self, cid, Customer cust, upto, list out)
    cpdef _park(self, cid, Customer cust, Instance inst, due)
    @cython.locals(j=Journey, st=Step)
    cpdef _fire(self, cid, Customer cust, Instance inst, now, list out, list queue)
    cpdef _drain(self, cid, Customer cust, list queue, t, list out)
    @cython.locals(inst=Instance, j=Journey)
    cpdef _match_running(self, cid, Customer cust, name, props, t, list out, list queue)
    @cython.locals(inst=Instance, other=Instance, instances=list)
    cpdef _try_enter(self, cid, Customer cust, Journey j, ctx, msg, t, list out, list queue)
    @cython.locals(st=Step)
    cpdef _run(self, cid, Customer cust, Instance inst, Journey j, sid, now, list out, list queue)
    cpdef _one_event(self, cid, Customer cust, name, props, traits, msg, t, list out, list queue)
    cpdef _until(self, cid, Customer cust, Instance inst, Journey j, Step st, now)
    cpdef _send(self, cid, Customer cust, Instance inst, Journey j, sid, Step st, now, list out)
    cpdef _reachable(self, profile, channel)
    cpdef _address(self, profile, channel)
    cpdef _end(self, cid, Customer cust, Instance inst, Journey j, reason, now)
    cpdef _zone(self, Customer cust, Journey j)
    cpdef _segments(self, cid, Customer cust, t, msg, list queue, name, profile_changed, changed, passed)
    cpdef _windows_passed(self, Customer cust, t)
    cpdef _note_windows(self, Customer cust, windows, t)
    cpdef _may_move(self, Customer cust, t)
    cpdef _merge_traits(self, cid, Customer cust, traits, t, msg)
    @cython.locals(i=Instance)
    cpdef _store(self, cid, Customer cust)
    cpdef _trace(self, cid, t, journey, text)
