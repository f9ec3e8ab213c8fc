// Private to api/: one request being served — its tenant, @context and negotiated formats —
// and the helpers every NGSI-LD handler shares.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/api.h"
#include "model/model.h"
#include "query/query.h"
#include "store/store.h"

namespace cityroom::api {

enum class Accept { kJson, kLdJson, kGeoJson };

struct Call {
  http::Request request;
  http::Respond respond;
  Deps* deps = nullptr;
  std::string tenant;
  ldcontext::ContextPtr context;
  Accept accept = Accept::kJson;
  // The parsed body (when the request has one).
  json::value body;
  bool body_is_ld = false;  // Content-Type application/ld+json
  GrantPtr grant;  // from the access check; null: sees and writes everything

  void fail(const base::Error& e) { respond(http::Response::problem(e)); }
  void fail(base::ErrorKind kind, std::string detail) { fail(base::Error{kind, std::move(detail)}); }
};

struct Prepare {
  bool read_only = true;     // a GET: the tenant must exist
  bool has_body = false;     // POST/PATCH/PUT with a JSON body
  bool allow_geojson = false;
  bool allow_merge_patch = false;
  bool context_document = false;  // the body IS a JSON-LD context (POST /jsonldContexts)
  bool admin = false;  // an administrative operation: only the admin role (Operation kAdmin)
};

// Tenant, access check, Accept, Content-Type, body parse and @context resolution.
// On error the response has been sent and nullopt is returned.
std::optional<Call> prepare(http::Request&& request, http::Respond respond, Deps& deps,
                            const Prepare& how);

// Whether the request's grant may see `e`; an invisible entity is answered as a missing one.
inline bool visible(const Call& call, const model::Entity& e) {
  return !call.grant || call.grant->may_see(e);
}
// Per-attribute visibility. `e` (an entity the grant may see) without the attributes the grant
// may not see: nullopt when nothing is hidden (use `e`, no copy made).
std::optional<model::Entity> redact(const Grant& grant, const model::Entity& e);
// `e` as the request's grant may see it: `e` itself or the copy kept in `scratch`.
const model::Entity& redacted(const Call& call, const model::Entity& e,
                              std::optional<model::Entity>& scratch);
// The live seam of a grant (screen streams, subscriptions): its entity filter, attribute
// redaction and view key; empty for a null grant or one that sees everything.
live::Viewer viewer_of(const GrantPtr& grant);
// For a write to existing entity `id` by a limited grant: reads it and answers 404 (invisible or
// missing, alike) or 403 (visible, type not writable), returning false; true = go on.
// `stored`, when given, receives the stored entity (limited grants only; else left empty).
bool writable(Call& call, std::string_view id, std::optional<model::Entity>* stored = nullptr);
// Per-attribute visibility on writes: a grant may not write an attribute it may not see on one
// of `types` (else it could overwrite or probe it). The first such attribute named in
// `attributes` (expanded IRIs), or nullopt; `refuse_hidden_attribute` answers 403 for it
// (the same whether the entity has the attribute or not).
std::optional<std::string> hidden_attribute(const Call& call, const std::vector<std::string>& types,
                                            const std::vector<std::string>& attributes);
bool writable_attributes(Call& call, const std::vector<std::string>& types,
                         const std::vector<std::string>& attributes);
// The attribute names of an entity or fragment (its non-reserved members).
std::vector<std::string> attribute_names(const model::Entity& e);
// For a write that names the entity's type(s) (create, upsert, batch): 403 unless writable.
bool writable_types(Call& call, const std::vector<std::string>& types);
// For a route that answers or changes data of one entity type as a whole rather than entity by
// entity (the alarm list, a request's workflow and contact, call-centre figures): unless the
// grant may see `type` (an IRI or a local name, as in visibility.json), answers 401 to an
// anonymous caller and 403 to others, and returns false. The route is then exactly as visible
// as the type it exposes.
bool sees_type(Call& call, std::string_view type);
// Invisible entities are filtered inside a query, so paging and counts never see them; the
// query's terms see each entity as the grant does (q, attrs, geoQ on a hidden attribute find
// nothing; orderBy on an attribute hidden on some type orders as if it did not exist).
void restrict_query(const Call& call, store::EntityQuery& q);
// The NotFound answer for an entity that is missing or invisible (one text for both).
base::Error entity_not_found(std::string_view id);

// Resolves the @context of one body element (ld+json: its own "@context"; json: the Link one).
base::Result<ldcontext::ContextPtr> context_of(const Call& call, const json::object& element);

// Answers with JSON, adding Link or @context as the negotiated format requires.
void reply_json(Call& call, int status, json::value body, bool add_context = true,
                http::Headers extra = {});
void reply_empty(Call& call, int status, http::Headers headers = {});

// The URL of a `Link: <url>; rel="http://www.w3.org/ns/json-ld#context"` header: nullopt when
// there is none, "" when it is malformed.
std::optional<std::string> link_context(const http::Request& r);

// A tenant name as NGSILD-Tenant may carry it: 1–kTenantNameMax of [A-Za-z0-9_.-].
bool valid_tenant(std::string_view tenant);

// A route handler bound to the shared Deps, for Router::add.
using RouteFn = void (*)(Deps&, http::Request&&, http::Respond);
http::Handler bound(Deps& deps, RouteFn fn);

// The path parameter `param` checked to be a URI; otherwise answers BadRequestData
// ("<what> id '...' is not a URI") and returns nullopt.
std::optional<std::string> path_uri(Call& call, std::string_view param, std::string_view what);

// A non-negative decimal integer, the whole string; nullopt otherwise.
std::optional<std::size_t> parse_size(std::string_view s);

// Query-string helpers.
std::vector<std::string> split_list(std::string_view s, char sep = ',');
bool has_option(const http::Request& r, std::string_view option);

struct RenderRequest {
  model::RenderOptions options;
  std::optional<std::string> geoproperty;  // expanded, for geo+json
};
base::Result<RenderRequest> render_request(const Call& call);

base::Result<store::EntityQuery> entity_query(const Call& call);

// Renders `e` as the request's grant may see it (hidden attributes dropped first).
json::value render(const Call& call, const model::Entity& e, const RenderRequest& how);

std::string entity_location(std::string_view id);

// Runs the query the request's parameters describe and answers with the rendered page (a
// FeatureCollection for geo+json) and NGSILD-Results-Count when count=true. Shared by
// GET /entities and POST /entityOperations/query, whose body is translated to parameters.
void answer_query(Call& call);

}  // namespace cityroom::api
