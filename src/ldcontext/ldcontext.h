// ldcontext: JSON-LD @context handling as NGSI-LD needs it.
//
// A `Context` is an immutable, resolved active context: term → IRI definitions, prefixes and
// @vocab, always layered over the NGSI-LD core context (whose terms are protected: a user
// context cannot redefine them). `expand` turns a short attribute or type name into its IRI;
// `compact` turns an IRI back into the shortest term the context defines.
//
// `ContextStore` owns every context the hub knows: the built-in core context, the contexts the
// product ships (loaded at start from a directory with an `index.json` that maps URLs to files,
// so that `https://raw.githubusercontent.com/smart-data-models/.../context.jsonld` resolves
// offline), and contexts registered through `/jsonldContexts` (persisted under the data dir).
// Resolution never touches the network: an unknown URL is LdContextNotAvailable at once.
// Resolved contexts are cached by their JSON text. All members are thread-safe.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/base.h"
#include "json/json.h"

namespace cityroom::ldcontext {

inline constexpr std::string_view kCoreContextUrl =
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld";
inline constexpr std::string_view kDefaultVocab = "https://uri.etsi.org/ngsi-ld/default-context/";
inline constexpr std::size_t kCachedContextsMax = 1024;
inline constexpr std::size_t kContextNestingMax = 16;  // URL → context → URL ... depth

class Context {
 public:
  // Term (attribute name, entity type, vocab value) → IRI. Absolute IRIs and compact IRIs
  // with a known prefix (`ngsi-ld:foo`) expand as JSON-LD says; anything else is @vocab + term.
  std::string expand(std::string_view term) const;
  // IRI → the term this context defines for it; else, if it lies under @vocab, the remainder;
  // else the IRI unchanged.
  std::string compact(std::string_view iri) const;
  // The @context value that produced this context (what goes into `Link` / `@context` of a
  // response). The core context alone is the core URL.
  const json::value& source() const { return source_; }

  struct Impl;
  explicit Context(std::shared_ptr<const Impl> impl, json::value source)
      : impl_(std::move(impl)), source_(std::move(source)) {}

 private:
  std::shared_ptr<const Impl> impl_;
  json::value source_;
};

using ContextPtr = std::shared_ptr<const Context>;

struct ContextInfo {
  std::string id;    // URL (shipped, registered) — the key of /jsonldContexts/{id}
  std::string kind;  // "Cached" (shipped or fetched), "Hosted" (registered by a client), "ImplicitlyCreated"
  std::size_t number_of_hits = 0;
  base::Micros created_at = 0;
};

class ContextStore {
 public:
  // `shipped_dir` has index.json ({"<url>": "<file>", ...}) and the files; `hosted_dir` is where
  // contexts registered by clients are persisted (created if missing).
  static base::Result<std::unique_ptr<ContextStore>> open(const std::filesystem::path& shipped_dir,
                                                          const std::filesystem::path& hosted_dir);
  ~ContextStore();

  ContextPtr core() const;
  // Resolves an @context value: a URL string, an inline object, or an array of both.
  base::Result<ContextPtr> resolve(const json::value& spec);
  // Resolves the URL of a `Link: <url>; rel="http://www.w3.org/ns/json-ld#context"` header.
  base::Result<ContextPtr> resolve_url(std::string_view url);

  // /jsonldContexts: register a context document ({"@context": ...}); returns its new URL id
  // (`urn:ngsi-ld:jsonldContext:<uuid-like>` style is fine, served back under GET).
  base::Result<std::string> add(const json::value& document);
  std::vector<ContextInfo> list() const;
  // The stored document of a context (shipped or hosted) by its id/URL.
  base::Result<json::value> get(std::string_view id) const;
  // Removes a hosted context; shipped ones are OperationNotSupported-ish (BadRequestData).
  base::Result<void> remove(std::string_view id);

  struct State;

 private:
  explicit ContextStore(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace cityroom::ldcontext
