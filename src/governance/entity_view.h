// governance/entity_view: cityroom's own entity types (Pledge, ServiceRequest, Indicator) as the
// governance code reads and writes them.
//
// These types use the core context (docs/DATA-MODEL.md: own terms expand to the default
// vocabulary), so one short name ↔ one IRI, with no @context plumbing in this module. Entities
// are built as concise JSON with short names and parsed by model (so the hub sees exactly what
// an NGSI-LD client would have sent) and read back as keyValues.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "base/base.h"
#include "json/json.h"
#include "ldcontext/ldcontext.h"
#include "model/model.h"

namespace cityroom::governance {

inline constexpr std::string_view kPledgeType = "Pledge";
inline constexpr std::string_view kRequestType = "ServiceRequest";
inline constexpr std::string_view kAreaType = "AdministrativeArea";

// `core` below is the core context (ContextStore::core()).

// Short own term → expanded IRI (the core context's @vocab).
std::string iri(std::string_view term);

// Concise/normalized JSON with short names → the internal form (kEntity, or kFragment for
// partial updates), stamped with `now`.
base::Result<model::Entity> to_entity(const ldcontext::Context& core, const json::object& body,
                                      bool fragment, base::Micros now = base::now_micros());

// The entity as keyValues with short names (what the governance routes answer).
json::object key_values(const ldcontext::Context& core, const model::Entity& e);

// Small typed reads of a keyValues object.
std::string str(const json::object& kv, std::string_view key);
std::optional<double> num(const json::object& kv, std::string_view key);

// The id's key after "urn:ngsi-ld:<Type>:" ("" when the id has another shape).
std::string id_key(std::string_view id, std::string_view type);

}  // namespace cityroom::governance
