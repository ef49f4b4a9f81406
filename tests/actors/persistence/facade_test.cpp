// The persistence facade, deterministically: CAF's test coordinator runs
// every message and timer as an explicit step, and the workers are fakes
// behind worker_actor (the `worker_factory` seam). Each case is one of
// issue 19's wedges: a worker stuck on a silent connection, counts that
// scan in front of the tails every PingCount needs, an unbounded queue.
#define BOOST_TEST_MODULE persistence_facade
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <set>

#include <caf/all.hpp>

#include "actors/common/errors.hpp"
#include "actors/common/ids.hpp"
#include "actors/persistence/persistence.hpp"
#include "tests/support/coordinator.hpp"
#include "tests/support/response_handlers.hpp"

using namespace ping;
using namespace ping::persistence;
using namespace std::chrono_literals;

namespace {

struct world {
  int spawned = 0;                 // workers made, in order: writer, count reader, tail reader, ...
  bool hang_writes = false;        // writes get no answer
  bool hang_counts = false;        // counts get no answer
  bool hang_reads = false;         // the count reader's shared reads get no answer
  std::vector<int> reads_by;       // the worker of each shared read received
  std::vector<int64_t> edge_hints; // the edge hint of each shared read received
  std::vector<caf::typed_response_promise<read_counts>> held_reads;
  std::vector<int> writes_by;                    // the worker of each write received
  std::vector<size_t> write_sizes;               // the rows of each write received
  std::vector<std::vector<int32_t>> write_parts; // the partitions of each write's rows
  std::vector<int> counts_by;
  std::vector<caf::typed_response_promise<int64_t>> held;             // counts
  std::vector<caf::typed_response_promise<write_report>> held_writes; // writes
  // What a write answers besides the rows stored (its committed pings).
  std::vector<committed_ping> committed;
  // Who asked for each held answer, its response id, and whether it is a
  // write: a late answer after the worker was replaced (killed, its
  // promises unusable) is sent as the worker would have.
  struct asker {
    caf::strong_actor_ptr to;
    caf::message_id mid;
    bool write = false;
  };
  std::vector<asker> asked;
  std::vector<asker> read_askers; // of the held shared reads, in order

  // Answers held shared read i as its worker would.
  void answer_read(size_t i, read_counts x) {
    auto& a = read_askers[i];
    a.to->enqueue(caf::make_mailbox_element(nullptr, a.mid.response_id(), {}, std::move(x)),
                  nullptr);
  }

  void answer_late(int64_t x) {
    for (auto& a : asked)
      a.to->enqueue(a.write ? caf::make_mailbox_element(nullptr, a.mid.response_id(), {},
                                                        write_report{x, committed})
                            : caf::make_mailbox_element(nullptr, a.mid.response_id(), {}, x),
                    nullptr);
    asked.clear();
  }
};

worker_actor::behavior_type fake_worker(worker_actor::pointer self, std::shared_ptr<world> w,
                                        int id) {
  return {
    [=](write_atom, const std::vector<ping_row>& rows, int64_t) -> caf::result<write_report> {
      w->writes_by.push_back(id);
      w->write_sizes.push_back(rows.size());
      w->write_parts.emplace_back();
      for (const auto& r : rows)
        w->write_parts.back().push_back(r.partition);
      if (w->hang_writes) {
        w->asked.push_back({self->current_sender(), self->current_message_id(), true});
        auto rp = self->make_response_promise<write_report>();
        w->held_writes.push_back(rp);
        return rp;
      }
      return write_report{static_cast<int64_t>(rows.size()), w->committed};
    },
    [=](count_atom, const time_range&) -> caf::result<int64_t> {
      w->counts_by.push_back(id);
      if (w->hang_counts) {
        w->asked.push_back({self->current_sender(), self->current_message_id(), false});
        auto rp = self->make_response_promise<int64_t>();
        w->held.push_back(rp);
        return rp;
      }
      return int64_t{42};
    },
    [=](tail_atom, const std::vector<int64_t>&, bool) {
      return tail_counts{true, 7, {}};
    },
    [=](tail_atom, const std::vector<int64_t>&, bool, const std::vector<time_range>&,
        int64_t edge_pings) -> caf::result<read_counts> {
      w->reads_by.push_back(id);
      w->edge_hints.push_back(edge_pings);
      if (w->hang_reads) {
        w->read_askers.push_back({self->current_sender(), self->current_message_id(), false});
        auto rp = self->make_response_promise<read_counts>();
        w->held_reads.push_back(rp);
        return rp;
      }
      return read_counts{{true, 7, {}}, {}};
    },
    [=](minutes_atom, int64_t, int32_t) { return std::vector<int64_t>{}; },
    [=](heads_atom) { return std::vector<outbox_position>{}; },
    [=](probe_atom) { return true; },
  };
}

struct fixture : test::coordinator_fixture {
  telemetry::registry reg;
  std::shared_ptr<world> w = std::make_shared<world>();
  persistence_actor store;

  void start(settings s) {
    store = spawn_persistence(*sys, s, reg,
                              [this](caf::actor_system& sys, const settings&, socket_handle_ptr) {
                                return sys.spawn(fake_worker, w, ++w->spawned);
                              });
    drain();
  }

  static settings defaults() {
    settings s;
    s.writers = 1;
    s.tail_readers = 1;
    s.write_timeout = 5s;
    s.statement_timeout = 5s;
    s.connect_timeout = 2s;
    s.backoff_min = 100ms;
    s.backoff_max = 1s;
    return s;
  }

  ~fixture() {
    caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
    drain();
  }

  static ping_row row() {
    auto id = make_uuid_v7(now_ms());
    return ping_row{id, now_ms(), now_ms(), 0};
  }

  template <class T, class Handle>
  caf::expected<T> answer(Handle& rh) {
    caf::expected<T> out{caf::make_error(caf::sec::request_timeout)};
    rh.receive([&](T& x) { out = x; }, [&](caf::error& e) { out = e; });
    return out;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(facade_suite, fixture)

// Item 1: a write that got no answer by its deadline used to free its slot
// and the next batch went to the same, still blocked, worker. Now the
// worker is replaced; nothing more is sent to it.
BOOST_AUTO_TEST_CASE(a_stuck_writer_is_replaced_not_reused) {
  start(defaults());
  BOOST_REQUIRE(w->spawned == 3); // writer, count reader, tail reader
  w->hang_writes = true;
  auto first = (*self)->request(store, caf::infinite, store_atom::value, row());
  drain();
  auto second = (*self)->request(store, caf::infinite, store_atom::value, row());
  drain();
  BOOST_TEST(w->writes_by == std::vector<int>{1}); // the second waits for a free writer
  advance(5100ms);
  auto a = answer<int64_t>(first);
  BOOST_TEST((!a && a.error() == ping_errc::unavailable));
  auto b = answer<int64_t>(second);
  BOOST_TEST((!b && b.error() == ping_errc::unavailable)); // failed fast, never sent
  BOOST_TEST(w->writes_by == std::vector<int>{1});
  BOOST_TEST(w->spawned >= 4); // a new writer (the idle readers reconnect too)
  w->hang_writes = false;
  advance(3s); // respawn, probe: healthy again
  auto third = (*self)->request(store, caf::infinite, store_atom::value, row());
  drain();
  auto c = answer<int64_t>(third);
  BOOST_TEST(static_cast<bool>(c));
  BOOST_TEST(w->writes_by.size() == 2u);
  BOOST_TEST(w->writes_by.back() != 1); // a new worker wrote it
}

// Item 4: the tail every PingCount needs used to queue behind slow counts
// in the one reader's mailbox. Counts have their own reader now.
BOOST_AUTO_TEST_CASE(tails_do_not_queue_behind_counts) {
  start(defaults());
  w->hang_counts = true;
  for (int i = 0; i < 3; ++i)
    (*self)->send(store, count_atom::value, time_range{true, 1, 253402300800000});
  drain();
  auto rh = (*self)->request(store, caf::infinite, tail_atom::value, std::vector<int64_t>{0, 0, 0},
                             false);
  drain();
  auto t = answer<tail_counts>(rh);
  BOOST_REQUIRE(static_cast<bool>(t));
  BOOST_TEST(t->total == 7);
  BOOST_TEST(w->counts_by.size() == 1u); // one count at a time
}

// The count reader keeps two shared reads in flight (counts.max-reads):
// each goes to a tail reader of its own, so the second does not wait for
// the first's statement; a third waits for the first free one.
BOOST_AUTO_TEST_CASE(shared_reads_run_on_tail_readers_side_by_side) {
  auto s = defaults();
  s.tail_readers = 2;
  start(s);
  BOOST_REQUIRE(w->spawned == 4); // writer, count reader, two tail readers
  w->hang_reads = true;
  auto ask = [&] {
    return (*self)->request(store, caf::infinite, tail_atom::value, std::vector<int64_t>{0, 0, 0},
                            false, std::vector<time_range>{}, int64_t{17});
  };
  auto first = ask();
  auto second = ask();
  auto third = ask();
  drain();
  BOOST_TEST(w->reads_by == (std::vector<int>{3, 4}));
  BOOST_REQUIRE(w->held_reads.size() == 2u);
  w->answer_read(1, read_counts{{true, 5, {}}, {}});
  drain();
  BOOST_TEST(w->reads_by == (std::vector<int>{3, 4, 4}));          // the first free reader
  BOOST_TEST(w->edge_hints == (std::vector<int64_t>{17, 17, 17})); // passed on as asked
  auto b = answer<read_counts>(second);
  BOOST_REQUIRE(static_cast<bool>(b));
  BOOST_TEST(b->tail.total == 5);
  w->answer_read(0, read_counts{{true, 6, {}}, {}});
  w->answer_read(2, read_counts{{true, 8, {}}, {}});
  drain();
  auto a = answer<read_counts>(first);
  auto c = answer<read_counts>(third);
  BOOST_REQUIRE((a && c));
  BOOST_TEST(a->tail.total == 6);
  BOOST_TEST(c->tail.total == 8);
}

// Item 4: counts waiting for their reader are bounded; a count's slot is
// free again only when PostgreSQL answers (or its worker is replaced).
BOOST_AUTO_TEST_CASE(counts_waiting_are_bounded) {
  auto s = defaults();
  s.max_reads_waiting = 2;
  start(s);
  w->hang_counts = true;
  auto ask = [&] {
    return (*self)->request(store, caf::infinite, count_atom::value,
                            time_range{true, 1, 253402300800000});
  };
  std::vector<decltype(ask())> hs;
  for (int i = 0; i < 4; ++i) {
    hs.push_back(ask());
    drain();
  }
  auto last = answer<int64_t>(hs.back());
  BOOST_TEST((!last && last.error() == ping_errc::resource_exhausted));
  BOOST_TEST(w->counts_by.size() == 1u);
  // The caller giving up frees nothing: the reader still has one count.
  // No answer within statement + connect timeout (+1 s): the reader is
  // replaced and the queued counts go to the new one.
  w->hang_counts = false;
  advance(8500ms);
  auto first = answer<int64_t>(hs[0]);
  BOOST_TEST((!first && first.error() == ping_errc::unavailable));
  BOOST_TEST(w->counts_by.size() >= 2u);
  BOOST_TEST(w->counts_by.back() != w->counts_by.front());
}

// Issue 18: a batch store is one message each way: every ping is queued
// as a single store would be (same bound), the batch is written in one
// transaction, and the answer, once every ping has its outcome, gives each
// ping its own (none: committed).
BOOST_AUTO_TEST_CASE(a_batch_store_answers_once_with_each_pings_outcome) {
  auto s = defaults();
  s.max_pending = 2;
  start(s);
  // Two fit (max_pending); the third is refused at once, but answered
  // with the others.
  auto batch = (*self)->request(store, caf::infinite, store_atom::value,
                                std::vector<ping_row>{row(), row(), row()});
  drain();
  BOOST_TEST(w->write_sizes == std::vector<size_t>{2}); // the batch's two pings in one write
  auto b = answer<std::vector<caf::error>>(batch);
  BOOST_REQUIRE(static_cast<bool>(b));
  BOOST_REQUIRE(b->size() == 3u);
  BOOST_TEST(!(*b)[0]);
  BOOST_TEST(!(*b)[1]);
  BOOST_TEST(((*b)[2] == ping_errc::resource_exhausted));
}

// A batch store while the writer is stuck: every ping gets the outcome a
// single store gets (unavailable once the writer is replaced), in one
// answer.
BOOST_AUTO_TEST_CASE(a_batch_store_behind_a_stuck_writer_gets_unavailable) {
  start(defaults());
  w->hang_writes = true;
  auto batch = (*self)->request(store, caf::infinite, store_atom::value,
                                std::vector<ping_row>{row(), row()});
  drain();
  BOOST_TEST(w->write_sizes == std::vector<size_t>{2});
  advance(5100ms);
  auto b = answer<std::vector<caf::error>>(batch);
  BOOST_REQUIRE(static_cast<bool>(b));
  BOOST_REQUIRE(b->size() == 2u);
  BOOST_TEST(((*b)[0] == ping_errc::unavailable));
  BOOST_TEST(((*b)[1] == ping_errc::unavailable));
}

// Issue 18: requests out to the workers carry no CAF timeout each (in CAF
// 0.17 every one posts a timer and its cancellation to the clock thread);
// one watchdog timer covers them all, and each is still settled at its own
// deadline: a write that gets no answer at write_timeout, a count at the
// readers' deadline (statement + connect timeout + 1 s).
BOOST_AUTO_TEST_CASE(one_watchdog_timer_covers_every_request_out) {
  start(defaults());
  BOOST_REQUIRE(sched->clock().schedule().size() == 1u); // the health probe's
  w->hang_writes = true;
  w->hang_counts = true;
  auto write = (*self)->request(store, caf::infinite, store_atom::value, row());
  auto count = (*self)->request(store, caf::infinite, count_atom::value,
                                time_range{true, 1, 253402300800000});
  drain();
  BOOST_REQUIRE(w->writes_by.size() == 1u);
  BOOST_REQUIRE(w->counts_by.size() == 1u);
  // Two requests out; the probe's timer and one more.
  BOOST_TEST(sched->clock().schedule().size() == 2u);
  advance(4900ms);
  BOOST_TEST(w->spawned == 3); // nothing replaced before the write's deadline
  advance(200ms);
  auto a = answer<int64_t>(write);
  BOOST_TEST((!a && a.error() == ping_errc::unavailable));
  BOOST_TEST(w->spawned >= 4); // the writer is replaced
  advance(3000ms);             // 8.1 s: the count's deadline
  auto c = answer<int64_t>(count);
  BOOST_TEST((!c && c.error() == ping_errc::unavailable));
}

// Issue 18, third round: every ping of a batch goes to one Kafka
// partition, the writer's partitions in turn, whatever partition the
// gateway gave it (a commit then moves one outbox head).
BOOST_AUTO_TEST_CASE(a_batch_goes_to_one_partition_the_writers_in_turn) {
  start(defaults()); // one writer, 3 partitions
  for (int k = 0; k < 4; ++k) {
    std::vector<ping_row> rows;
    for (int32_t p = 0; p < 3; ++p) {
      rows.push_back(row());
      rows.back().partition = p;
    }
    auto rh = (*self)->request(store, caf::infinite, store_atom::value, rows);
    drain();
    BOOST_REQUIRE(static_cast<bool>(answer<std::vector<caf::error>>(rh)));
  }
  using parts = std::vector<std::vector<int32_t>>;
  BOOST_TEST((w->write_parts == parts{{0, 0, 0}, {1, 1, 1}, {2, 2, 2}, {0, 0, 0}}));
}

// commit_linger: after a commit, the writer waits for as many pings as it
// had queued plus those it answered (their callers' next ones), or until
// the linger ends, before the next batch.
BOOST_AUTO_TEST_CASE(a_lingering_writer_waits_for_the_callers_it_answered) {
  auto s = defaults();
  s.commit_linger = 1ms;
  start(s);
  auto first = (*self)->request(store, caf::infinite, store_atom::value,
                                std::vector<ping_row>{row(), row()});
  drain();
  BOOST_TEST(w->write_sizes == std::vector<size_t>{2}); // nothing to wait for at first
  BOOST_REQUIRE(static_cast<bool>(answer<std::vector<caf::error>>(first)));
  auto b = (*self)->request(store, caf::infinite, store_atom::value, row());
  drain();
  BOOST_TEST(w->write_sizes == std::vector<size_t>{2}); // waits for the second caller
  auto c = (*self)->request(store, caf::infinite, store_atom::value, row());
  drain();
  BOOST_TEST((w->write_sizes == std::vector<size_t>{2, 2}));
  BOOST_TEST(static_cast<bool>(answer<int64_t>(b)));
  BOOST_TEST(static_cast<bool>(answer<int64_t>(c)));
  auto d = (*self)->request(store, caf::infinite, store_atom::value, row());
  drain();
  BOOST_TEST((w->write_sizes == std::vector<size_t>{2, 2})); // waits for one more
  advance(50ms);                                             // the linger ends
  BOOST_TEST((w->write_sizes == std::vector<size_t>{2, 2, 1}));
  BOOST_TEST(static_cast<bool>(answer<int64_t>(d)));
}

// A worker wedged for good (its request never answered, not even after it
// was replaced) used to leave the facade's response handler for that
// request behind for the facade's life: the facade's own watchdog settled
// the request, but CAF's handler (request(..., infinite).then) stayed,
// holding the request's callbacks and their callers' promises. One more
// per wedged request, round after round. Now the overdue request gets
// CAF's own request_timeout (actors/common/watchdog.hpp), which consumes
// the handler, and no timer per request is left either.
BOOST_AUTO_TEST_CASE(a_wedged_worker_leaves_no_response_handler_behind) {
  start(defaults());
  BOOST_REQUIRE(test::response_handlers(store) == 0u);
  w->hang_writes = true;
  w->hang_counts = true;
  for (int round = 1; round <= 3; ++round) {
    BOOST_TEST_CONTEXT("round " << round) {
      auto write = (*self)->request(store, caf::infinite, store_atom::value, row());
      auto count = (*self)->request(store, caf::infinite, count_atom::value,
                                    time_range{true, 1, 253402300800000});
      drain();
      BOOST_REQUIRE(w->writes_by.size() == static_cast<size_t>(round));
      BOOST_REQUIRE(w->counts_by.size() == static_cast<size_t>(round));
      BOOST_TEST(test::response_handlers(store) == 2u); // both out
      advance(8500ms); // the write's deadline (5 s), the count's (8 s)
      auto a = answer<int64_t>(write);
      BOOST_TEST((!a && a.error() == ping_errc::unavailable));
      auto c = answer<int64_t>(count);
      BOOST_TEST((!c && c.error() == ping_errc::unavailable));
      BOOST_TEST(test::response_handlers(store) == 0u);
      BOOST_TEST(pending_timers().request_timeouts == 0u);
      advance(3s); // respawn, probe: healthy again
    }
  }
  BOOST_TEST(w->spawned >= 9); // every wedged worker was replaced
  BOOST_TEST(test::response_handlers(store) == 0u);
  BOOST_TEST(pending_timers().all <= 2u); // the probe's, at most one watchdog tick
}

// A wedged worker that answers after all, after its request's deadline
// (and its replacement): every caller was answered once, at the deadline,
// and the late answers reach nobody, nor disturb the new workers.
BOOST_AUTO_TEST_CASE(a_late_answer_after_the_deadline_answers_nobody_twice) {
  start(defaults());
  w->hang_writes = true;
  w->hang_counts = true;
  auto batch = (*self)->request(store, caf::infinite, store_atom::value,
                                std::vector<ping_row>{row(), row()});
  auto single = (*self)->request(store, caf::infinite, store_atom::value, row());
  auto count = (*self)->request(store, caf::infinite, count_atom::value,
                                time_range{true, 1, 253402300800000});
  drain();
  // The batch's write (the single one waits), the count.
  BOOST_REQUIRE(w->held_writes.size() + w->held.size() == 2u);
  advance(4900ms);
  BOOST_TEST(w->spawned == 3); // nothing settled before the write's deadline
  advance(200ms);
  auto b = answer<std::vector<caf::error>>(batch);
  BOOST_REQUIRE(static_cast<bool>(b));
  BOOST_REQUIRE(b->size() == 2u);
  BOOST_TEST(((*b)[0] == ping_errc::unavailable));
  BOOST_TEST(((*b)[1] == ping_errc::unavailable));
  auto s = answer<int64_t>(single);
  BOOST_TEST((!s && s.error() == ping_errc::unavailable));
  advance(3000ms); // 8.1 s: the count's deadline
  auto c = answer<int64_t>(count);
  BOOST_TEST((!c && c.error() == ping_errc::unavailable));
  BOOST_TEST(test::response_handlers(store) == 0u); // nothing waits for them any more
  // The wedged workers answer now: success, late.
  w->hang_writes = false;
  w->hang_counts = false;
  w->answer_late(2);
  drain();
  BOOST_TEST((*self)->mailbox().size() == 0u); // no caller hears twice
  BOOST_TEST(test::response_handlers(store) == 0u);
  advance(3s); // respawn, probe: healthy again
  auto writes = w->writes_by.size();
  auto next = (*self)->request(store, caf::infinite, store_atom::value, row());
  auto next_count = (*self)->request(store, caf::infinite, count_atom::value,
                                     time_range{true, 1, 253402300800000});
  drain();
  auto n = answer<int64_t>(next);
  BOOST_TEST((n && *n == 1));
  auto nc = answer<int64_t>(next_count);
  BOOST_TEST((nc && *nc == 42));
  BOOST_REQUIRE(w->writes_by.size() == writes + 1);
  BOOST_TEST(w->writes_by.back() != 1); // a new writer
  BOOST_TEST((*self)->mailbox().size() == 0u);
  BOOST_TEST(test::response_handlers(store) == 0u);
}

// Requests answered in time leave nothing behind either: no CAF request
// timeout, no handler, one watchdog tick for them all.
BOOST_AUTO_TEST_CASE(answered_requests_leave_no_timer_or_handler_behind) {
  start(defaults());
  size_t most = 0; // timers pending at once, at most
  std::set<caf::actor_clock::time_point> dues;
  for (int i = 0; i < 20; ++i) {
    auto s = (*self)->request(store, caf::infinite, store_atom::value, row());
    auto c = (*self)->request(store, caf::infinite, count_atom::value,
                              time_range{true, 1, 253402300800000});
    auto t = (*self)->request(store, caf::infinite, tail_atom::value, std::vector<int64_t>{0, 0, 0},
                              false);
    drain();
    BOOST_TEST(static_cast<bool>(answer<int64_t>(s)));
    BOOST_TEST(static_cast<bool>(answer<int64_t>(c)));
    BOOST_TEST(static_cast<bool>(answer<tail_counts>(t)));
    auto p = pending_timers();
    BOOST_TEST(p.request_timeouts == 0u);
    most = std::max(most, p.all);
    dues.insert(p.dues.begin(), p.dues.end());
    BOOST_TEST(test::response_handlers(store) == 0u);
    advance(1ms, 1ms);
  }
  BOOST_TEST(most <= 2u);        // the probe's and one watchdog tick
  BOOST_TEST(dues.size() <= 2u); // the probe's, the tick armed by the first request
}

// The deadline and the answer at once: the worker's answer is already in
// the facade's mailbox when the watchdog's tick for that deadline is
// handled. The timeout is a message queued behind the answer, so the
// answer counts (the batch was sent before its deadline and committed):
// its callers hear of the commit and the writer is kept. Before, the tick
// settled the write as timed out on the spot, answered `unavailable` for
// pings that were stored, and replaced a writer that had answered.
BOOST_AUTO_TEST_CASE(an_answer_queued_before_the_deadlines_tick_counts) {
  start(defaults());
  w->hang_writes = true;
  auto h = (*self)->request(store, caf::infinite, store_atom::value, row());
  drain();
  BOOST_REQUIRE(w->asked.size() == 1u);
  advance(4900ms);
  sched->advance_time(100ms); // the tick is queued, not handled yet
  w->answer_late(1);          // the commit's answer, queued behind it
  drain();
  auto a = answer<int64_t>(h);
  BOOST_TEST((a && *a == 1));
  w->hang_writes = false;
  advance(2s);                 // past any replacement's backoff
  BOOST_TEST(w->spawned == 3); // nobody replaced
  BOOST_TEST(test::response_handlers(store) == 0u);
  BOOST_TEST((*self)->mailbox().size() == 0u);
}

// One message back per commit (issue 18): the writer's answer carries the
// committed pings, and the facade hands them to the outbox sink before the
// commit's callers hear of it (the relay then has them when the nudge
// that follows the acks comes). Before, the writer sent them to the sink
// itself: a second message from its thread per commit.
BOOST_AUTO_TEST_CASE(a_commit_hands_its_pings_to_the_outbox_before_its_callers_hear) {
  auto s = defaults();
  s.outbox = caf::actor_cast<outbox_sink>((*self)->ctrl());
  committed_ping c;
  c.partition = 1;
  c.seq = 7;
  c.id_hi = 1;
  c.id_lo = 2;
  w->committed = {c};
  start(s);
  auto h = (*self)->request(store, caf::infinite, store_atom::value,
                            std::vector<ping_row>{row(), row()});
  drain();
  BOOST_REQUIRE(w->writes_by.size() == 1u);
  // The test's mailbox: the hand-off first, then the batch's answer.
  BOOST_REQUIRE((*self)->mailbox().size() == 2u);
  auto* first = (*self)->mailbox().peek();
  BOOST_REQUIRE(first != nullptr);
  BOOST_TEST(!first->mid.is_response());
  std::vector<committed_ping> handed;
  (*self)->receive(
    [&](committed_atom, std::vector<committed_ping>& xs) { handed = std::move(xs); });
  BOOST_REQUIRE(handed.size() == 1u);
  BOOST_TEST((handed[0] == c));
  auto a = answer<std::vector<caf::error>>(h);
  BOOST_REQUIRE(static_cast<bool>(a));
  BOOST_TEST(a->size() == 2u);
  BOOST_TEST((*self)->mailbox().size() == 0u);
}

// A write that fails hands nothing to the outbox.
BOOST_AUTO_TEST_CASE(a_failed_commit_hands_nothing_to_the_outbox) {
  auto s = defaults();
  s.outbox = caf::actor_cast<outbox_sink>((*self)->ctrl());
  w->committed = {committed_ping{}};
  w->hang_writes = true;
  start(s);
  auto h = (*self)->request(store, caf::infinite, store_atom::value, row());
  drain();
  advance(5100ms); // the write's deadline: unavailable, the writer replaced
  auto a = answer<int64_t>(h);
  BOOST_TEST((!a && a.error() == ping_errc::unavailable));
  BOOST_TEST((*self)->mailbox().size() == 0u);
  w->answer_late(1); // the replaced writer's late answer reaches nobody
  drain();
  BOOST_TEST((*self)->mailbox().size() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
