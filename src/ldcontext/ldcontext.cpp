#include "ldcontext/ldcontext.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "ldcontext/core_context.h"

namespace cityroom::ldcontext {
namespace {

using base::ErrorKind;
using base::fail;

constexpr std::string_view kHostedIdPrefix = "urn:ngsi-ld:jsonldContext:";
constexpr std::string_view kHostedFileSuffix = ".jsonld";
constexpr std::string_view kIndexFile = "index.json";
constexpr std::size_t kHostedIdBytes = 16;
constexpr std::size_t kShippedContextsMax = 4096;  // entries in index.json
constexpr std::size_t kHostedContextsMax = 100000;  // files read from hosted_dir at open
// Every URL clients use for the core context; all of them resolve to the built-in copy.
constexpr std::array<std::string_view, 6> kCoreContextUrls = {
    kCoreContextUrl,
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.7.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.3.jsonld",
};

bool is_core_url(std::string_view url) {
  return std::find(kCoreContextUrls.begin(), kCoreContextUrls.end(), url) !=
         kCoreContextUrls.end();
}

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringMap = std::unordered_map<std::string, std::string, StringHash, std::equal_to<>>;
using StringSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;

const std::string* find_in(const StringMap& map, std::string_view key) {
  auto it = map.find(key);
  return it == map.end() ? nullptr : &it->second;
}

// JSON-LD 1.1: a simple term whose IRI ends in a gen-delim can serve as a compact-IRI prefix.
bool ends_with_gen_delim(std::string_view iri) {
  return !iri.empty() && std::string_view(":/?#[]@").find(iri.back()) != std::string_view::npos;
}

// The definitions of one layer (core, or everything the user contexts added), with the reverse
// map and prefix list precomputed so that expand/compact are hash lookups.
struct TermTables {
  StringMap term_to_iri;
  StringSet prefix_terms;  // terms usable as `prefix:suffix`
  StringMap iri_to_term;   // shortest, then lexicographically least term per IRI
  std::vector<std::pair<std::string, std::string>> prefixes;  // (IRI, term), longest IRI first

  void finish() {
    iri_to_term.clear();
    prefixes.clear();
    for (const auto& [term, iri] : term_to_iri) {
      auto [it, inserted] = iri_to_term.try_emplace(iri, term);
      const std::string& held = it->second;
      if (!inserted && (term.size() < held.size() || (term.size() == held.size() && term < held))) {
        it->second = term;
      }
      if (prefix_terms.contains(term)) prefixes.emplace_back(iri, term);
    }
    std::sort(prefixes.begin(), prefixes.end(), [](const auto& a, const auto& b) {
      return a.first.size() != b.first.size() ? a.first.size() > b.first.size() : a < b;
    });
  }
};

}  // namespace

struct Context::Impl {
  std::shared_ptr<const TermTables> core;
  TermTables user;
  std::string vocab;

  const std::string* term_iri(std::string_view term) const {
    if (const std::string* iri = find_in(core->term_to_iri, term)) return iri;
    return find_in(user.term_to_iri, term);
  }
  bool is_prefix(std::string_view term) const {
    if (core->term_to_iri.contains(term)) return core->prefix_terms.contains(term);
    return user.prefix_terms.contains(term);
  }
};

namespace {

// `term` contains a colon: a compact IRI when its prefix is a prefix term, else an absolute IRI.
std::string expand_colon(const Context::Impl& m, std::string_view term, std::size_t colon) {
  const std::string_view prefix = term.substr(0, colon);
  const std::string_view suffix = term.substr(colon + 1);
  if (prefix == "_" || suffix.starts_with("//") || !m.is_prefix(prefix)) {
    return std::string(term);
  }
  return *m.term_iri(prefix) + std::string(suffix);
}

std::string expand_with(const Context::Impl& m, std::string_view term) {
  if (term.empty() || term.front() == '@') return std::string(term);
  if (const std::string* iri = m.term_iri(term)) return *iri;
  if (const auto colon = term.find(':'); colon != std::string_view::npos) {
    return expand_colon(m, term, colon);
  }
  return m.vocab + std::string(term);
}

// The best compact IRI `prefix:rest` for `iri`, if any prefix term covers it.
std::optional<std::string> compact_with_prefix(const Context::Impl& m, std::string_view iri) {
  for (const TermTables* tables : {&m.user, m.core.get()}) {
    for (const auto& [prefix_iri, term] : tables->prefixes) {
      if (iri.size() <= prefix_iri.size() || !iri.starts_with(prefix_iri)) continue;
      const std::string_view rest = iri.substr(prefix_iri.size());
      if (rest.starts_with("//")) continue;
      std::string candidate = term + ":" + std::string(rest);
      if (m.term_iri(candidate) == nullptr) return candidate;
    }
  }
  return std::nullopt;
}

// ---- building a Context from @context values ------------------------------------------------

using DocumentLookup = std::function<std::shared_ptr<const json::value>(std::string_view url)>;

// Applies @context values in order onto an active context (JSON-LD 1.1 context processing,
// reduced to what NGSI-LD needs: term definitions, prefixes, @vocab, nested arrays, URLs).
class Builder {
 public:
  Builder(std::shared_ptr<const TermTables> core, DocumentLookup lookup)
      : lookup_(std::move(lookup)) {
    impl_.core = std::move(core);
    impl_.vocab = std::string(kDefaultVocab);
  }

  base::Result<void> process(const json::value& spec, std::size_t depth) {
    if (depth > kContextNestingMax) {
      return fail(ErrorKind::kBadRequestData,
                  fmt::format("@context nesting deeper than {} levels", kContextNestingMax));
    }
    switch (spec.kind()) {
      case boost::json::kind::null: reset(); return {};
      case boost::json::kind::string: return process_url(spec.get_string(), depth);
      case boost::json::kind::array:
        for (const json::value& item : spec.get_array()) {
          if (auto r = process(item, depth); !r) return r;
        }
        return {};
      case boost::json::kind::object: return process_local(spec.get_object());
      default:
        return fail(ErrorKind::kBadRequestData,
                    fmt::format("invalid @context: {} (expected a URL, an object or an array)",
                                json::kind_name(spec)));
    }
  }

  const std::vector<std::string>& urls() const { return urls_; }

  std::shared_ptr<Context::Impl> finish() {
    impl_.user.finish();
    return std::make_shared<Context::Impl>(std::move(impl_));
  }

 private:
  void reset() {
    impl_.user = TermTables{};
    impl_.vocab = std::string(kDefaultVocab);
  }

  base::Result<void> process_url(std::string_view url, std::size_t depth) {
    urls_.emplace_back(url);
    if (is_core_url(url)) return {};  // the core context is always applied, first and protected
    std::shared_ptr<const json::value> doc = lookup_(url);
    if (!doc) {
      return fail(ErrorKind::kLdContextNotAvailable,
                  fmt::format("@context {} is not available: it is neither shipped nor registered "
                              "(cityroom does not fetch contexts from the network)",
                              url));
    }
    const json::value* inner = doc->is_object() ? doc->get_object().if_contains("@context")
                                                : nullptr;
    if (!inner) {
      return fail(ErrorKind::kBadRequestData,
                  fmt::format("context document {} has no \"@context\" member", url));
    }
    return process(*inner, depth + 1);
  }

  base::Result<void> process_local(const json::object& local) {
    local_ = &local;
    defining_.clear();
    if (const json::value* v = local.if_contains("@vocab")) {
      if (auto r = set_vocab(*v); !r) return r;
    }
    for (const auto& member : local) {
      if (member.key().starts_with("@")) continue;  // @version, @protected, @base, @language...
      if (auto r = define(member.key()); !r) return r;
    }
    local_ = nullptr;
    return {};
  }

  base::Result<void> set_vocab(const json::value& v) {
    if (v.is_null()) {
      impl_.vocab = std::string(kDefaultVocab);  // NGSI-LD always has a vocabulary
      return {};
    }
    if (!v.is_string() || v.get_string().empty()) {
      return fail(ErrorKind::kBadRequestData, "invalid @context: @vocab must be an IRI string");
    }
    auto vocab = expand_value(v.get_string());
    if (!vocab) return std::unexpected(vocab.error());
    impl_.vocab = std::move(*vocab);
    return {};
  }

  // Defines `term` from the local context being processed, first defining the terms its IRI
  // depends on (JSON-LD's "defined" map), so member order does not matter.
  base::Result<void> define(std::string_view term) {
    // A term already defined, or being defined (a self-reference like "name": "name" or a
    // cycle), is left as it is; its IRI then comes from @vocab like an undefined one.
    if (defining_.contains(term)) return {};
    defining_.emplace(term);
    return define_now(term, local_->at(term));
  }

  base::Result<void> define_now(std::string_view term, const json::value& def) {
    // Core terms are protected: a user context can neither redefine nor undefine them.
    if (impl_.core->term_to_iri.contains(term)) return {};
    std::optional<std::string_view> id;
    bool prefix_flag = false;
    if (def.is_string()) {
      id = def.get_string();
    } else if (def.is_object()) {
      const json::object& o = def.get_object();
      if (const json::value* v = o.if_contains("@id")) {
        if (v->is_null()) return undefine(term);
        if (!v->is_string()) return bad_definition(term);
        id = v->get_string();
      }
      if (const json::value* p = o.if_contains("@prefix"); p && p->is_bool()) {
        prefix_flag = p->get_bool();
      }
    } else if (def.is_null()) {
      return undefine(term);
    } else {
      return bad_definition(term);
    }
    auto iri = id ? expand_value(*id) : expand_term_itself(term);
    if (!iri) return std::unexpected(iri.error());
    if (def.is_string() && ends_with_gen_delim(*iri)) prefix_flag = true;
    impl_.user.term_to_iri[std::string(term)] = std::move(*iri);
    if (prefix_flag) {
      impl_.user.prefix_terms.emplace(term);
    } else {
      impl_.user.prefix_terms.erase(std::string(term));
    }
    return {};
  }

  base::Result<void> undefine(std::string_view term) {
    impl_.user.term_to_iri.erase(std::string(term));
    impl_.user.prefix_terms.erase(std::string(term));
    return {};
  }

  static base::Result<void> bad_definition(std::string_view term) {
    return fail(ErrorKind::kBadRequestData,
                fmt::format("invalid @context: the definition of term '{}' must be a string, an "
                            "object with \"@id\", or null",
                            term));
  }

  // The IRI of a term definition's value: a keyword, a term or compact IRI of this same local
  // context (defined first), an absolute IRI, or a name under @vocab.
  base::Result<std::string> expand_value(std::string_view value) {
    if (value.starts_with("@")) return std::string(value);
    const auto colon = value.find(':');
    const std::string_view head = colon == std::string_view::npos ? value : value.substr(0, colon);
    if (local_->contains(head) && !head.starts_with("@")) {
      if (auto r = define(head); !r) return std::unexpected(r.error());
    }
    return expand_with(impl_, value);
  }

  // A definition without @id: a compact/absolute IRI term maps to itself, else @vocab + term.
  base::Result<std::string> expand_term_itself(std::string_view term) {
    if (term.find(':') != std::string_view::npos) return expand_value(term);
    return impl_.vocab + std::string(term);
  }

  DocumentLookup lookup_;
  Context::Impl impl_;
  std::vector<std::string> urls_;
  const json::object* local_ = nullptr;
  std::set<std::string, std::less<>> defining_;  // terms of local_ started
};

base::Result<json::value> read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail(ErrorKind::kInternalError, fmt::format("cannot read {}", path.string()));
  }
  std::ostringstream text;
  text << in.rdbuf();
  auto parsed = json::parse(text.str());
  if (!parsed) {
    return fail(ErrorKind::kInternalError,
                fmt::format("{}: {}", path.string(), parsed.error().detail));
  }
  return std::move(*parsed);
}

base::Result<void> write_file_atomically(const std::filesystem::path& path,
                                         const std::string& text) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      return fail(ErrorKind::kInternalError, fmt::format("cannot write {}", tmp.string()));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    return fail(ErrorKind::kInternalError,
                fmt::format("cannot rename {}: {}", tmp.string(), ec.message()));
  }
  return {};
}

}  // namespace

// ---- Context ---------------------------------------------------------------------------------

std::string Context::expand(std::string_view term) const { return expand_with(*impl_, term); }

std::string Context::compact(std::string_view iri) const {
  const Impl& m = *impl_;
  // User terms never shadow core ones (the builder skips core terms), so both maps are exact.
  if (const std::string* t = find_in(m.user.iri_to_term, iri)) return *t;
  if (const std::string* t = find_in(m.core->iri_to_term, iri)) return *t;
  if (iri.size() > m.vocab.size() && iri.starts_with(m.vocab)) {
    const std::string_view rest = iri.substr(m.vocab.size());
    if (rest.find_first_of(":/") == std::string_view::npos && !rest.starts_with("@") &&
        m.term_iri(rest) == nullptr) {
      return std::string(rest);
    }
  }
  if (auto prefixed = compact_with_prefix(m, iri)) return std::move(*prefixed);
  return std::string(iri);
}

// ---- ContextStore ----------------------------------------------------------------------------

namespace {

struct StoredContext {
  std::shared_ptr<const json::value> document;
  std::string kind;  // "Cached" or "Hosted"
  base::Micros created_at = 0;
  std::size_t number_of_hits = 0;
};

struct CacheEntry {
  ContextPtr context;
  std::vector<std::string> urls;  // URLs the spec referenced, for number_of_hits
  std::list<std::string>::iterator position;
};

}  // namespace

struct ContextStore::State {
  std::filesystem::path hosted_dir;
  std::shared_ptr<const TermTables> core_tables;
  ContextPtr core;

  mutable std::mutex mutex;  // guards everything below
  std::map<std::string, StoredContext, std::less<>> contexts;  // URL or hosted id → document
  std::unordered_map<std::string, CacheEntry, StringHash, std::equal_to<>> cache;
  std::list<std::string> recency;  // cache keys, most recently used first
  std::mt19937_64 random;

  std::shared_ptr<const json::value> lookup(std::string_view url) const {
    std::lock_guard lock(mutex);
    auto it = contexts.find(url);
    return it == contexts.end() ? nullptr : it->second.document;
  }

  // Returns the cached context for `key`, counting hits, or nullptr.
  ContextPtr cached(std::string_view key) {
    std::lock_guard lock(mutex);
    auto it = cache.find(key);
    if (it == cache.end()) return nullptr;
    recency.splice(recency.begin(), recency, it->second.position);
    count_hits(it->second.urls);
    return it->second.context;
  }

  void remember(std::string key, ContextPtr context, std::vector<std::string> urls) {
    std::lock_guard lock(mutex);
    count_hits(urls);
    if (cache.contains(key)) return;  // another thread built it meanwhile
    if (cache.size() >= kCachedContextsMax) {
      cache.erase(recency.back());
      recency.pop_back();
    }
    recency.push_front(key);
    CacheEntry entry{std::move(context), std::move(urls), recency.begin()};
    cache.emplace(std::move(key), std::move(entry));
  }

  void count_hits(const std::vector<std::string>& urls) {
    for (const std::string& url : urls) {
      if (auto it = contexts.find(url); it != contexts.end()) ++it->second.number_of_hits;
    }
  }

  void clear_cache() {
    cache.clear();
    recency.clear();
  }

  std::string new_hosted_hex() {
    std::string hex;
    while (hex.size() < kHostedIdBytes * 2) hex += fmt::format("{:016x}", random());
    return hex.substr(0, kHostedIdBytes * 2);
  }
};

namespace {

base::Result<std::shared_ptr<const TermTables>> build_core_tables(const json::value& doc) {
  auto empty = std::make_shared<const TermTables>();
  Builder builder(empty, [](std::string_view) { return nullptr; });
  const json::value* inner = doc.is_object() ? doc.get_object().if_contains("@context") : nullptr;
  if (!inner) return fail(ErrorKind::kInternalError, "the core context has no @context");
  if (auto r = builder.process(*inner, 0); !r) return std::unexpected(r.error());
  auto impl = builder.finish();
  return std::make_shared<const TermTables>(std::move(impl->user));
}

base::Result<void> load_shipped(ContextStore::State& state, const std::filesystem::path& dir) {
  if (!std::filesystem::exists(dir / kIndexFile)) return {};  // the built-in core still works
  auto index = read_json_file(dir / kIndexFile);
  if (!index) return std::unexpected(index.error());
  if (!index->is_object() || index->get_object().size() > kShippedContextsMax) {
    return fail(ErrorKind::kInternalError,
                fmt::format("{} must be an object of at most {} URL → file entries",
                            (dir / kIndexFile).string(), kShippedContextsMax));
  }
  std::map<std::string, std::shared_ptr<const json::value>> by_file;
  for (const auto& [url, file] : index->get_object()) {
    if (is_core_url(url)) continue;  // served from the built-in copy
    if (!file.is_string()) {
      return fail(ErrorKind::kInternalError, fmt::format("index.json: {} → not a file name", url));
    }
    const std::string name(file.get_string());
    auto& doc = by_file[name];
    if (!doc) {
      auto parsed = read_json_file(dir / name);
      if (!parsed) return std::unexpected(parsed.error());
      doc = std::make_shared<const json::value>(std::move(*parsed));
    }
    state.contexts[std::string(url)] = StoredContext{doc, "Cached", base::now_micros(), 0};
  }
  return {};
}

base::Result<void> load_hosted(ContextStore::State& state) {
  std::error_code ec;
  std::filesystem::create_directories(state.hosted_dir, ec);
  if (ec) {
    return fail(ErrorKind::kInternalError,
                fmt::format("cannot create {}: {}", state.hosted_dir.string(), ec.message()));
  }
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(state.hosted_dir, ec)) {
    if (entry.path().extension() != kHostedFileSuffix) continue;
    if (++count > kHostedContextsMax) break;
    auto stored = read_json_file(entry.path());
    if (!stored) return std::unexpected(stored.error());
    const json::object* o = stored->if_object();
    const json::value* doc = o ? o->if_contains("document") : nullptr;
    const auto created = o ? json::get_string(*o, "createdAt") : std::nullopt;
    if (!doc) continue;  // not ours
    const std::string id = std::string(kHostedIdPrefix) + entry.path().stem().string();
    state.contexts[id] = StoredContext{std::make_shared<const json::value>(*doc), "Hosted",
                                       created ? base::parse_iso8601(*created).value_or(0) : 0, 0};
  }
  if (ec) {
    return fail(ErrorKind::kInternalError,
                fmt::format("cannot list {}: {}", state.hosted_dir.string(), ec.message()));
  }
  return {};
}

}  // namespace

ContextStore::ContextStore(std::unique_ptr<State> state) : state_(std::move(state)) {}
ContextStore::~ContextStore() = default;

namespace {

base::Result<std::unique_ptr<ContextStore::State>> open_state(
    const std::filesystem::path& shipped_dir, const std::filesystem::path& hosted_dir) {
  using State = ContextStore::State;
  auto state = std::make_unique<State>();
  state->hosted_dir = hosted_dir;
  state->random.seed(std::random_device{}());
  auto core_doc = json::parse(embedded_core_context());
  if (!core_doc) return fail(ErrorKind::kInternalError, "built-in core context: invalid JSON");
  auto core_tables = build_core_tables(*core_doc);
  if (!core_tables) return std::unexpected(core_tables.error());
  state->core_tables = *core_tables;
  auto core_impl = std::make_shared<Context::Impl>();
  core_impl->core = state->core_tables;
  core_impl->vocab = std::string(kDefaultVocab);
  state->core = std::make_shared<const Context>(std::move(core_impl),
                                                json::value(std::string(kCoreContextUrl)));
  auto core_shared = std::make_shared<const json::value>(std::move(*core_doc));
  const base::Micros now = base::now_micros();
  for (std::string_view url : kCoreContextUrls) {
    state->contexts[std::string(url)] = StoredContext{core_shared, "Cached", now, 0};
  }
  if (auto r = load_shipped(*state, shipped_dir); !r) return std::unexpected(r.error());
  if (auto r = load_hosted(*state); !r) return std::unexpected(r.error());
  return state;
}

}  // namespace

base::Result<std::unique_ptr<ContextStore>> ContextStore::open(
    const std::filesystem::path& shipped_dir, const std::filesystem::path& hosted_dir) {
  try {
    auto state = open_state(shipped_dir, hosted_dir);
    if (!state) return std::unexpected(state.error());
    return std::unique_ptr<ContextStore>(new ContextStore(std::move(*state)));
  } catch (const std::exception& e) {  // filesystem iteration and allocation may throw
    return fail(ErrorKind::kInternalError, fmt::format("opening the context store: {}", e.what()));
  }
}

ContextPtr ContextStore::core() const { return state_->core; }

base::Result<ContextPtr> ContextStore::resolve(const json::value& spec) {
  std::string key = json::serialize(spec);
  if (ContextPtr hit = state_->cached(key)) return hit;
  Builder builder(state_->core_tables,
                  [this](std::string_view url) { return state_->lookup(url); });
  if (auto r = builder.process(spec, 0); !r) return std::unexpected(r.error());
  std::vector<std::string> urls = builder.urls();
  auto context = std::make_shared<const Context>(builder.finish(), spec);
  state_->remember(std::move(key), context, std::move(urls));
  return context;
}

base::Result<ContextPtr> ContextStore::resolve_url(std::string_view url) {
  return resolve(json::value(url));
}

base::Result<std::string> ContextStore::add(const json::value& document) {
  const json::object* o = document.if_object();
  const json::value* inner = o ? o->if_contains("@context") : nullptr;
  if (!inner) {
    return fail(ErrorKind::kBadRequestData,
                "a context document must be a JSON object with an \"@context\" member");
  }
  Builder builder(state_->core_tables,
                  [this](std::string_view url) { return state_->lookup(url); });
  if (auto r = builder.process(*inner, 1); !r) return std::unexpected(r.error());

  std::lock_guard lock(state_->mutex);
  const std::string hex = state_->new_hosted_hex();
  const std::string id = std::string(kHostedIdPrefix) + hex;
  const base::Micros now = base::now_micros();
  json::object stored{{"createdAt", base::format_iso8601(now)}, {"document", document}};
  const auto path = state_->hosted_dir / (hex + std::string(kHostedFileSuffix));
  if (auto r = write_file_atomically(path, json::serialize(stored)); !r) {
    return std::unexpected(r.error());
  }
  state_->contexts[id] =
      StoredContext{std::make_shared<const json::value>(document), "Hosted", now, 0};
  return id;
}

std::vector<ContextInfo> ContextStore::list() const {
  std::lock_guard lock(state_->mutex);
  std::vector<ContextInfo> out;
  out.reserve(state_->contexts.size());
  for (const auto& [id, stored] : state_->contexts) {
    out.push_back(ContextInfo{id, stored.kind, stored.number_of_hits, stored.created_at});
  }
  return out;
}

base::Result<json::value> ContextStore::get(std::string_view id) const {
  std::lock_guard lock(state_->mutex);
  auto it = state_->contexts.find(id);
  if (it == state_->contexts.end()) {
    return fail(ErrorKind::kResourceNotFound, fmt::format("no @context with id {}", id));
  }
  return *it->second.document;
}

base::Result<void> ContextStore::remove(std::string_view id) {
  std::lock_guard lock(state_->mutex);
  auto it = state_->contexts.find(id);
  if (it == state_->contexts.end()) {
    return fail(ErrorKind::kResourceNotFound, fmt::format("no @context with id {}", id));
  }
  if (it->second.kind != "Hosted") {
    return fail(ErrorKind::kBadRequestData,
                fmt::format("@context {} ships with cityroom and cannot be deleted", id));
  }
  const std::string hex(id.substr(kHostedIdPrefix.size()));
  std::error_code ec;
  std::filesystem::remove(state_->hosted_dir / (hex + std::string(kHostedFileSuffix)), ec);
  if (ec) {
    return fail(ErrorKind::kInternalError,
                fmt::format("cannot delete the file of @context {}: {}", id, ec.message()));
  }
  state_->contexts.erase(it);
  state_->clear_cache();  // cached contexts may include the removed one
  return {};
}

}  // namespace cityroom::ldcontext
