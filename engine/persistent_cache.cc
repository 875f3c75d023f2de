#include "engine/persistent_cache.h"

#include <lmdb.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "schema/byte_coding.h"
#include "schema/observable.h"

namespace enrich::engine {
namespace {

using schema::ByteReader;
using schema::LoadLE;
using schema::PutString;
using schema::PutVarint;
using schema::StoreLE;

MDB_val Val(absl::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
absl::string_view View(const MDB_val& v) {
  return absl::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

bool IsDamage(int rc) {
  return rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND ||
         rc == MDB_VERSION_MISMATCH || rc == MDB_BAD_TXN || rc == MDB_INCOMPATIBLE;
}

absl::Status LmdbError(const std::string& dir, absl::string_view what, int rc) {
  const std::string text = absl::StrCat("cache ", dir, ": ", what, ": ", mdb_strerror(rc));
  if (IsDamage(rc)) {
    return absl::DataLossError(absl::StrCat("cache ", dir, " is damaged (", what, ": ",
                                            mdb_strerror(rc), ")"));
  }
  return absl::UnavailableError(text);
}

absl::Status Damaged(const std::string& dir, absl::string_view why) {
  return absl::DataLossError(absl::StrCat("cache ", dir, " is damaged (", why, ")"));
}

// Aborts a transaction left open on any way out.
struct Txn {
  MDB_txn* txn = nullptr;
  ~Txn() {
    if (txn != nullptr) mdb_txn_abort(txn);
  }
  int Commit() {
    const int rc = mdb_txn_commit(txn);
    txn = nullptr;
    return rc;
  }
};

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

}  // namespace

// The environment, its sub-databases, and the numbering maps read from it.
struct PersistentCache::Env {
  std::string dir;
  MDB_env* env = nullptr;
  MDB_dbi meta = 0, scopes = 0, prefixes = 0, verdicts = 0;
  std::vector<std::string> types;      // meta "types": stored number - 1 → name
  std::array<uint8_t, 256> type_map{};  // this build's number → stored number (0: by name)
  uint32_t scope = 0;
  size_t max_key = 511;
  absl::Mutex prefix_mu;  // orders Intern with the prefixes sub-database
  IdPrefixes ids;

  ~Env() {
    if (env != nullptr) mdb_env_close(env);
  }

  // Interns the stored prefixes this process has not seen yet, in their numbers' order.
  absl::Status SyncPrefixes(MDB_txn* txn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(prefix_mu) {
    for (size_t n = ids.size(); n < IdPrefixes::kMax; ++n) {
      const char k = static_cast<char>(n);
      MDB_val key = Val(absl::string_view(&k, 1)), val;
      const int rc = mdb_get(txn, prefixes, &key, &val);
      if (rc == MDB_NOTFOUND) break;
      if (rc != 0) return LmdbError(dir, "reading the judgement id prefixes", rc);
      if (ids.Intern(View(val)) != static_cast<int>(n)) {
        return Damaged(dir, "the judgement id prefixes are numbered twice");
      }
    }
    return absl::OkStatus();
  }
};

namespace {

// Opens DIR's environment and sub-databases, checking its format; a new one gets the format
// and this build's type list.
absl::StatusOr<std::unique_ptr<PersistentCache::Env>> OpenEnv(const std::string& dir,
                                                               size_t map_bytes)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cache ", dir, ": not a directory that can be created or used",
                     ec ? absl::StrCat(" (", ec.message(), ")") : ""));
  }
  auto e = std::make_unique<PersistentCache::Env>();
  e->dir = dir;
  int rc = mdb_env_create(&e->env);
  if (rc == 0) rc = mdb_env_set_maxdbs(e->env, 4);
  if (rc == 0) rc = mdb_env_set_mapsize(e->env, map_bytes);
  if (rc == 0) rc = mdb_env_set_maxreaders(e->env, 1024);
  if (rc != 0) return LmdbError(dir, "setting up", rc);
  rc = mdb_env_open(e->env, dir.c_str(), MDB_NOTLS | MDB_NORDAHEAD, 0644);
  if (rc != 0) {
    if (rc == EINVAL) return Damaged(dir, "its data file cannot be mapped");
    return LmdbError(dir, "opening", rc);
  }
  // A data file shorter than its pages: reading them would fault, so it is never served.
  MDB_envinfo info;
  MDB_stat st;
  mdb_env_info(e->env, &info);
  mdb_env_stat(e->env, &st);
  struct stat file;
  const std::string data = dir + "/data.mdb";
  if (::stat(data.c_str(), &file) == 0 &&
      static_cast<uint64_t>(file.st_size) < (info.me_last_pgno + 1) * uint64_t{st.ms_psize}) {
    return Damaged(dir, absl::StrCat("data.mdb is ", file.st_size, " bytes, its pages need ",
                                     (info.me_last_pgno + 1) * uint64_t{st.ms_psize}));
  }
  e->max_key = static_cast<size_t>(mdb_env_get_maxkeysize(e->env));
  Txn t;
  rc = mdb_txn_begin(e->env, nullptr, 0, &t.txn);
  if (rc == 0) rc = mdb_dbi_open(t.txn, "meta", MDB_CREATE, &e->meta);
  if (rc == 0) rc = mdb_dbi_open(t.txn, "scopes", MDB_CREATE, &e->scopes);
  if (rc == 0) rc = mdb_dbi_open(t.txn, "prefixes", MDB_CREATE, &e->prefixes);
  if (rc == 0) rc = mdb_dbi_open(t.txn, "verdicts", MDB_CREATE, &e->verdicts);
  if (rc != 0) return LmdbError(dir, "opening its databases", rc);
  MDB_val k = Val("format"), v;
  rc = mdb_get(t.txn, e->meta, &k, &v);
  const auto& known = schema::KnownObservableTypes();
  if (rc == MDB_NOTFOUND) {
    MDB_stat vs;
    mdb_stat(t.txn, e->verdicts, &vs);
    if (vs.ms_entries != 0) return Damaged(dir, "records without a format");
    const std::string types = absl::StrJoin(known, "\n");
    MDB_val fv = Val(kCacheFormat), tk = Val("types"), tv = Val(types);
    rc = mdb_put(t.txn, e->meta, &k, &fv, 0);
    if (rc == 0) rc = mdb_put(t.txn, e->meta, &tk, &tv, 0);
    if (rc != 0) return LmdbError(dir, "writing its format", rc);
  } else if (rc != 0) {
    return LmdbError(dir, "reading its format", rc);
  } else if (View(v) != kCacheFormat) {
    return Damaged(dir, absl::StrCat("format \"", absl::CHexEscape(View(v).substr(0, 40)),
                                     "\", not \"", kCacheFormat, "\""));
  }
  MDB_val tk = Val("types"), tv;
  if ((rc = mdb_get(t.txn, e->meta, &tk, &tv)) != 0) {
    return rc == MDB_NOTFOUND ? Damaged(dir, "no type list") : LmdbError(dir, "types", rc);
  }
  e->types = absl::StrSplit(View(tv), '\n');
  for (size_t i = 0; i < known.size() && i < 255; ++i) {
    const auto it = std::find(e->types.begin(), e->types.end(), known[i]);
    const size_t stored = static_cast<size_t>(it - e->types.begin()) + 1;
    e->type_map[i + 1] = it == e->types.end() || stored > 255 ? 0 : static_cast<uint8_t>(stored);
  }
  {
    absl::MutexLock lock(&e->prefix_mu);
    if (absl::Status s = e->SyncPrefixes(t.txn); !s.ok()) return s;
  }
  if ((rc = t.Commit()) != 0) return LmdbError(dir, "opening", rc);
  return e;
}

// The scope's number, given under a write transaction when new.
absl::StatusOr<uint32_t> ScopeNumber(PersistentCache::Env& e, const std::string& scope) {
  Txn t;
  int rc = mdb_txn_begin(e.env, nullptr, 0, &t.txn);
  if (rc != 0) return LmdbError(e.dir, "numbering the endpoint", rc);
  MDB_val k = Val(scope), v;
  rc = mdb_get(t.txn, e.scopes, &k, &v);
  if (rc == 0) {
    if (v.mv_size != 4) return Damaged(e.dir, "a scope number is not 4 bytes");
    return static_cast<uint32_t>(LoadLE(static_cast<const char*>(v.mv_data), 4));
  }
  if (rc != MDB_NOTFOUND) return LmdbError(e.dir, "reading the endpoints", rc);
  MDB_stat st;
  mdb_stat(t.txn, e.scopes, &st);
  const auto n = static_cast<uint32_t>(st.ms_entries);
  char b[4];
  StoreLE(b, n, 4);
  MDB_val nv = Val(absl::string_view(b, 4));
  rc = mdb_put(t.txn, e.scopes, &k, &nv, 0);
  if (rc == 0) rc = t.Commit();
  if (rc != 0) return LmdbError(e.dir, "numbering the endpoint", rc);
  return n;
}

std::string ScopeText(const PersistentCacheOptions& o) {
  return absl::StrCat(o.endpoint, " ", o.intel, o.details.empty() ? "" : " details=", o.details);
}

}  // namespace

// A settled lookup waiting for the writer: a copy of what the record needs.
struct PersistentCache::Pending {
  std::string key;
  Settled::Kind kind = Settled::Kind::kNoVerdict;
  int8_t disposition = 0;
  int64_t valid_until_ms = 0;
  int64_t expiry_ms = 0;
  std::string id;
  std::string details;
};

struct PersistentCache::Writer {
  absl::Mutex mu;
  std::vector<Pending> queue ABSL_GUARDED_BY(mu);
  std::vector<std::string> drops ABSL_GUARDED_BY(mu);  // keys of bad records
  uint64_t queued ABSL_GUARDED_BY(mu) = 0;             // ever queued
  uint64_t done ABSL_GUARDED_BY(mu) = 0;               // of those, committed or dropped
  bool stop ABSL_GUARDED_BY(mu) = false;
  bool flush ABSL_GUARDED_BY(mu) = false;  // Flush() waits: write without lingering
  std::thread thread;
};

PersistentCache::PersistentCache(PersistentCacheOptions options)
    : options_(std::move(options)), writer_(std::make_unique<Writer>()) {}

absl::StatusOr<std::unique_ptr<PersistentCache>> PersistentCache::Open(
    PersistentCacheOptions options) {
  std::unique_ptr<PersistentCache> cache(new PersistentCache(std::move(options)));
  if (absl::Status s = cache->Init(); !s.ok()) return s;
  return cache;
}

absl::Status PersistentCache::Init() {
  auto env = OpenEnv(options_.dir, options_.map_bytes);
  if (!env.ok()) return env.status();
  env_ = *std::move(env);
  auto scope = ScopeNumber(*env_, ScopeText(options_));
  if (!scope.ok()) return scope.status();
  env_->scope = *scope;
  writer_->thread = std::thread([this] { WriterLoop(); });
  return absl::OkStatus();
}

PersistentCache::~PersistentCache() {
  if (writer_->thread.joinable()) {
    {
      absl::MutexLock lock(&writer_->mu);
      writer_->stop = true;
    }
    writer_->thread.join();
  }
}

bool PersistentCache::MakeKey(absl::string_view type, absl::string_view value,
                              std::string& out) const {
  out.clear();
  PutVarint(out, env_->scope);
  const size_t at = out.size();
  EncodeKey(type, value, out);
  const auto local = static_cast<uint8_t>(out[at]);
  if (local != 0) {
    const uint8_t stored = env_->type_map[local];
    if (stored != 0) {
      out[at] = static_cast<char>(stored);
    } else {  // a type the cache's list lacks: by name
      out.resize(at);
      out.push_back(0);
      PutString(out, type);
      out.append(value.data(), value.size());
    }
  }
  return out.size() <= env_->max_key;
}

void PersistentCache::Disable(absl::string_view why) {
  if (usable_.exchange(false) && options_.notice) {
    options_.notice(absl::StrCat("cache ", options_.dir, " no longer used: ", why));
  }
}

void PersistentCache::ReadBatch(absl::Span<const VerdictTable::Key> keys, bool details,
                                absl::FunctionRef<void(absl::Span<const Hit>)> found) {
  if (keys.empty() || !usable()) return;
  Txn t;
  int rc = mdb_txn_begin(env_->env, nullptr, MDB_RDONLY, &t.txn);
  if (rc != 0) {
    Disable(LmdbError(options_.dir, "reading", rc).message());
    return;
  }
  thread_local std::string key;
  thread_local std::vector<Hit> hits;
  hits.clear();
  std::vector<std::string> bad;
  const int64_t now = NowMs();
  uint64_t expired = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (!MakeKey(keys[i].type, keys[i].value, key)) continue;
    MDB_val k = Val(key), v;
    rc = mdb_get(t.txn, env_->verdicts, &k, &v);
    if (rc == MDB_NOTFOUND) continue;
    if (rc != 0) {
      Disable(LmdbError(options_.dir, "reading", rc).message());
      return;
    }
    const absl::string_view bytes = View(v);
    Hit h{i, {}, 0};
    bool ok = RecordSize(bytes) == bytes.size() &&
              DecodeRecord(bytes, env_->ids, h.settled, h.expiry_ms);
    if (!ok && RecordSize(bytes) == bytes.size()) {  // perhaps a prefix another process added
      absl::MutexLock lock(&env_->prefix_mu);
      ok = env_->SyncPrefixes(t.txn).ok() &&
           DecodeRecord(bytes, env_->ids, h.settled, h.expiry_ms);
    }
    if (!ok || h.settled.kind == Settled::Kind::kFailed) {
      bad.push_back(key);
      continue;
    }
    if (h.expiry_ms <= now) {
      ++expired;
      continue;
    }
    if (details && h.settled.kind == Settled::Kind::kVerdict && h.settled.details.empty()) {
      continue;
    }
    hits.push_back(h);
  }
  if (!hits.empty()) found(hits);
  mdb_txn_abort(t.txn);  // before the counters: the hits' views end here
  t.txn = nullptr;
  counters_.hits += hits.size();
  counters_.misses += keys.size() - hits.size();
  counters_.expired += expired;
  if (!bad.empty()) {
    absl::MutexLock lock(&writer_->mu);
    for (std::string& b : bad) writer_->drops.push_back(std::move(b));
  }
}

void PersistentCache::Write(absl::Span<const PipelineOptions::SettledLookup> settled) {
  if (!usable()) return;
  thread_local std::vector<Pending> add;
  add.clear();
  const absl::Time now = absl::Now();
  for (const auto& s : settled) {
    if (!s.result->ok()) continue;  // failures are never kept
    Pending p;
    if (const auto* v = std::get_if<schema::Verdict>(&**s.result)) {
      p.kind = Settled::Kind::kVerdict;
      p.disposition = static_cast<int8_t>(v->disposition);
      p.valid_until_ms = absl::ToUnixMillis(v->valid_time.end_time);
      p.expiry_ms = absl::ToUnixMillis(std::min(v->valid_time.end_time, now + options_.max_ttl));
      p.id = v->judgement_id;
      p.details.assign(s.details.data(), s.details.size());
    } else {
      if (options_.negative_ttl <= absl::ZeroDuration()) continue;
      p.kind = Settled::Kind::kNoVerdict;
      p.expiry_ms = absl::ToUnixMillis(now + std::min(options_.negative_ttl, options_.max_ttl));
    }
    if (p.expiry_ms <= absl::ToUnixMillis(now)) continue;
    if (!MakeKey(s.observable->type, s.observable->value, p.key)) continue;
    add.push_back(std::move(p));
  }
  if (add.empty()) return;
  absl::MutexLock lock(&writer_->mu);
  for (Pending& p : add) writer_->queue.push_back(std::move(p));
  writer_->queued += add.size();
}

void PersistentCache::Flush() {
  absl::MutexLock lock(&writer_->mu);
  const uint64_t target = writer_->queued;
  writer_->flush = true;
  auto done = [this, target]() ABSL_SHARED_LOCKS_REQUIRED(writer_->mu) {
    return writer_->done >= target || writer_->stop;
  };
  writer_->mu.Await(absl::Condition(&done));
}

void PersistentCache::WriterLoop() {
  std::vector<Pending> batch;
  std::vector<std::string> drops;
  for (;;) {
    bool stop = false;
    {
      absl::MutexLock lock(&writer_->mu);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(writer_->mu) {
        return writer_->stop || writer_->flush || writer_->queue.size() >= options_.write_batch;
      };
      writer_->mu.AwaitWithTimeout(absl::Condition(&ready), options_.write_every);
      writer_->flush = false;
      batch.swap(writer_->queue);
      drops.swap(writer_->drops);
      stop = writer_->stop;
    }
    if (!batch.empty() || !drops.empty()) CommitBatch(batch, drops);
    {
      absl::MutexLock lock(&writer_->mu);
      writer_->done += batch.size();
    }
    batch.clear();
    drops.clear();
    if (stop) {
      absl::MutexLock lock(&writer_->mu);
      if (writer_->queue.empty() && writer_->drops.empty()) return;
    }
  }
}

void PersistentCache::CommitBatch(std::vector<Pending>& batch, std::vector<std::string>& drops) {
  if (!usable()) return;
  Txn t;
  int rc = mdb_txn_begin(env_->env, nullptr, 0, &t.txn);
  if (rc != 0) {
    Disable(LmdbError(options_.dir, "writing", rc).message());
    return;
  }
  for (const std::string& d : drops) {
    MDB_val k = Val(d);
    if (mdb_del(t.txn, env_->verdicts, &k, nullptr) == 0) ++counters_.dropped;
  }
  absl::MutexLock lock(&env_->prefix_mu);
  // Numbers given by other processes first, so this one numbers new prefixes after them.
  if (absl::Status s = env_->SyncPrefixes(t.txn); !s.ok()) {
    Disable(s.message());
    return;
  }
  const size_t known = env_->ids.size();
  std::string record;
  for (const Pending& p : batch) {
    Settled s;
    s.kind = p.kind;
    s.disposition = p.disposition;
    s.valid_until_ms = p.valid_until_ms;
    s.judgement_id = p.id;
    s.details = p.details;
    record.clear();
    EncodeRecord(s, p.expiry_ms, env_->ids, record);
    MDB_val k = Val(p.key), v = Val(record);
    if ((rc = mdb_put(t.txn, env_->verdicts, &k, &v, 0)) != 0) break;
  }
  for (size_t n = known; rc == 0 && n < env_->ids.size(); ++n) {
    const char kb = static_cast<char>(n);
    MDB_val k = Val(absl::string_view(&kb, 1)), v = Val(env_->ids.At(n));
    rc = mdb_put(t.txn, env_->prefixes, &k, &v, 0);
  }
  if (rc == 0) rc = t.Commit();
  if (rc != 0) {
    // The prefixes interned here may now be numbered differently on disk: stop using it.
    Disable(LmdbError(options_.dir, "writing", rc).message());
    return;
  }
  counters_.writes += batch.size();
}

namespace {

// Opens an existing cache for the maintenance commands.
absl::StatusOr<std::unique_ptr<PersistentCache::Env>> OpenExisting(const std::string& dir) {
  if (!std::filesystem::exists(dir + "/data.mdb")) {
    return absl::NotFoundError(absl::StrCat("cache ", dir, ": no cache there (no data.mdb)"));
  }
  return OpenEnv(dir, PersistentCacheOptions().map_bytes);
}

// Calls `each` with every record's key and bytes under a write transaction (`del` set by
// `each` deletes it), then commits.
absl::Status ForEachRecord(
    PersistentCache::Env& e, bool write,
    absl::FunctionRef<void(absl::string_view key, absl::string_view record, bool& del)> each) {
  Txn t;
  int rc = mdb_txn_begin(e.env, nullptr, write ? 0 : MDB_RDONLY, &t.txn);
  MDB_cursor* c = nullptr;
  if (rc == 0) rc = mdb_cursor_open(t.txn, e.verdicts, &c);
  if (rc != 0) return LmdbError(e.dir, "reading", rc);
  MDB_val k, v;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    bool del = false;
    each(View(k), View(v), del);
    if (del && write && (rc = mdb_cursor_del(c, 0)) != 0) break;
  }
  mdb_cursor_close(c);
  if (rc != MDB_NOTFOUND) return LmdbError(e.dir, "reading its records", rc);
  if (write && (rc = t.Commit()) != 0) return LmdbError(e.dir, "writing", rc);
  return absl::OkStatus();
}

// The record's expiry and kind; false when it does not decode.
bool RecordFacts(PersistentCache::Env& e, MDB_txn* txn, absl::string_view bytes,
                 Settled::Kind& kind, int64_t& expiry) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Settled s;
  if (RecordSize(bytes) != bytes.size()) return false;
  if (!DecodeRecord(bytes, e.ids, s, expiry)) return false;
  (void)txn;
  kind = s.kind;
  return kind != Settled::Kind::kFailed;
}

}  // namespace

absl::StatusOr<CacheStats> ReadCacheStats(const std::string& dir, absl::Time now) {
  auto env = OpenExisting(dir);
  if (!env.ok()) return env.status();
  PersistentCache::Env& e = **env;
  std::map<uint32_t, std::string> scopes;
  {
    Txn t;
    MDB_cursor* c = nullptr;
    int rc = mdb_txn_begin(e.env, nullptr, MDB_RDONLY, &t.txn);
    if (rc == 0) rc = mdb_cursor_open(t.txn, e.scopes, &c);
    if (rc != 0) return LmdbError(dir, "reading", rc);
    MDB_val k, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
      if (v.mv_size == 4) {
        scopes[static_cast<uint32_t>(LoadLE(static_cast<const char*>(v.mv_data), 4))] =
            std::string(View(k));
      }
    }
    mdb_cursor_close(c);
  }
  CacheStats out;
  std::map<std::pair<std::string, std::string>, CacheGroupStats> groups;
  const int64_t now_ms = absl::ToUnixMillis(now);
  absl::Status st = ForEachRecord(e, false, [&](absl::string_view key, absl::string_view rec,
                                                bool&) {
    ++out.entries;
    Settled::Kind kind;
    int64_t expiry = 0;
    ByteReader r(key);
    const auto scope = static_cast<uint32_t>(r.Varint());
    const uint8_t number = r.Byte();
    std::string type = number == 0 ? std::string(r.String())
                       : number <= e.types.size() ? e.types[number - 1]
                                                  : absl::StrCat("#", number);
    if (!r.ok() || !RecordFacts(e, nullptr, rec, kind, expiry)) {
      ++out.bad;
      return;
    }
    CacheGroupStats& g = groups[{scopes.count(scope) ? scopes[scope] : absl::StrCat("#", scope),
                                 type}];
    (kind == Settled::Kind::kVerdict ? g.verdicts : g.no_verdicts) += 1;
    if (expiry <= now_ms) {
      ++g.expired;
      ++out.expired;
    }
    if (out.soonest_expiry_ms == 0 || expiry < out.soonest_expiry_ms) {
      out.soonest_expiry_ms = expiry;
    }
    out.latest_expiry_ms = std::max(out.latest_expiry_ms, expiry);
  });
  if (!st.ok()) return st;
  for (auto& [k, g] : groups) {
    g.scope = k.first;
    g.type = k.second;
    out.groups.push_back(g);
  }
  struct stat file;
  if (::stat((dir + "/data.mdb").c_str(), &file) == 0) {
    out.file_bytes = static_cast<uint64_t>(file.st_size);
  }
  return out;
}

namespace {
std::string MsText(int64_t ms) {
  return ms == 0 ? "-" : absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixMillis(ms),
                                          absl::UTCTimeZone());
}
std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      absl::StrAppendFormat(&out, "\\u%04x", c);
    } else {
      out.push_back(c);
    }
  }
  return out + "\"";
}
}  // namespace

std::string CacheStatsText(const std::string& dir, const CacheStats& s, absl::Time now) {
  std::string out = absl::StrFormat(
      "cache %s: %d entries (%d expired, %d damaged), %.1f KiB on disk\n"
      "expiries: soonest %s, latest %s (now %s)\n",
      dir, s.entries, s.expired, s.bad, static_cast<double>(s.file_bytes) / 1024,
      MsText(s.soonest_expiry_ms), MsText(s.latest_expiry_ms),
      MsText(absl::ToUnixMillis(now)));
  if (!s.groups.empty()) {
    absl::StrAppendFormat(&out, "%-50s %-16s %10s %10s %10s\n", "endpoint intel", "type",
                          "verdict", "no_verdict", "expired");
  }
  for (const CacheGroupStats& g : s.groups) {
    absl::StrAppendFormat(&out, "%-50s %-16s %10d %10d %10d\n", g.scope, g.type, g.verdicts,
                          g.no_verdicts, g.expired);
  }
  return out;
}

std::string CacheStatsJson(const std::string& dir, const CacheStats& s) {
  std::vector<std::string> groups;
  for (const CacheGroupStats& g : s.groups) {
    groups.push_back(absl::StrCat("{\"scope\":", JsonString(g.scope), ",\"type\":",
                                  JsonString(g.type), ",\"verdicts\":", g.verdicts,
                                  ",\"no_verdicts\":", g.no_verdicts, ",\"expired\":",
                                  g.expired, "}"));
  }
  return absl::StrCat("{\"dir\":", JsonString(dir), ",\"entries\":", s.entries,
                      ",\"expired\":", s.expired, ",\"damaged\":", s.bad,
                      ",\"file_bytes\":", s.file_bytes, ",\"soonest_expiry\":",
                      JsonString(MsText(s.soonest_expiry_ms)), ",\"latest_expiry\":",
                      JsonString(MsText(s.latest_expiry_ms)), ",\"groups\":[",
                      absl::StrJoin(groups, ","), "]}\n");
}

absl::StatusOr<uint64_t> PruneCache(const std::string& dir, absl::Time now) {
  auto env = OpenExisting(dir);
  if (!env.ok()) return env.status();
  uint64_t dropped = 0;
  const int64_t now_ms = absl::ToUnixMillis(now);
  PersistentCache::Env& e = **env;
  absl::Status st = ForEachRecord(e, true, [&](absl::string_view, absl::string_view rec,
                                               bool& del) {
    Settled::Kind kind;
    int64_t expiry = 0;
    del = !RecordFacts(e, nullptr, rec, kind, expiry) || expiry <= now_ms;
    dropped += del ? 1 : 0;
  });
  if (!st.ok()) return st;
  return dropped;
}

absl::StatusOr<uint64_t> ClearCache(const std::string& dir) {
  auto env = OpenExisting(dir);
  if (!env.ok()) return env.status();
  Txn t;
  int rc = mdb_txn_begin((*env)->env, nullptr, 0, &t.txn);
  MDB_stat st;
  if (rc == 0) rc = mdb_stat(t.txn, (*env)->verdicts, &st);
  if (rc == 0) rc = mdb_drop(t.txn, (*env)->verdicts, 0);
  if (rc == 0) rc = t.Commit();
  if (rc != 0) return LmdbError(dir, "clearing", rc);
  return static_cast<uint64_t>(st.ms_entries);
}

}  // namespace enrich::engine
