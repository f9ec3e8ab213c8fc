// governance/requests: requests to the mayor (Open311 GeoReport v2) as ServiceRequest entities.
//
// A POST's form fields become two things that never mix: the public entity (serviceCode,
// serviceName, description, status, requestedAt, location, address, mediaUrl, attribute
// values, department, refArea — docs/DATA-MODEL.md's ServiceRequest) and the requester's
// personal record (first_name, last_name, phone, email, device_id, account_id), kept as a
// store record of kind `governance.contact` keyed by the entity id. So no NGSI-LD read,
// stream, subscription or Open311 GET can show personal data, whatever the access layer
// decides: it is not in the entity at all.
// Open311's own errors ([{"code","description"}]) come back as `Open311Error`.
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/base.h"
#include "governance/form.h"
#include "governance/services.h"
#include "json/json.h"

namespace cityroom::governance {

inline constexpr std::string_view kContactRecordKind = "governance.contact";
inline constexpr std::size_t kRequestsPageMax = 1000;       // Open311: at most 1000 per GET
inline constexpr std::size_t kDescriptionBytesMax = 4000;   // Open311: description ≤ 4000 chars
inline constexpr base::Micros kDefaultWindow = 90LL * 24 * 3600 * 1'000'000;  // spec: 90 days

struct Open311Error {
  int code = 400;  // HTTP status: 400, 403, 404, 500
  std::string description;
};
template <class T>
using Open311Result = std::expected<T, Open311Error>;

struct NewRequest {
  std::string id;         // urn:ngsi-ld:ServiceRequest:<key>
  std::string key;        // the Open311 service_request_id (and token)
  json::object entity;    // concise, short names
  json::object contact;   // personal fields given (may be empty)
  std::optional<std::pair<double, double>> point;  // lon, lat
};

// Validates a POST (api_key, service_code, a location, attribute[CODE] against the service's
// definition, lengths) and builds the request. `key` is the new id's key (the caller makes it
// unique: date + random).
Open311Result<NewRequest> request_from_form(const FormFields& form, const Open311Config& config,
                                            std::string key, base::Micros now);

// A new key: "YYYYMMDD-" + 8 hex digits.
std::string new_request_key(base::Micros now);

// A ServiceRequest entity (keyValues, short names, with modifiedAt) → Open311's request object.
// Built from an allow-list of public attributes only.
json::object open311_request(const json::object& kv);

// GET /requests filters. Open311: service_request_id (comma list; overrides the others),
// service_code (comma list), start_date, end_date (ISO 8601), status (open, closed, comma list).
struct RequestFilter {
  std::vector<std::string> ids;    // keys
  std::vector<std::string> codes;
  base::Micros start = 0;
  base::Micros end = 0;
  std::vector<std::string> statuses;
  std::size_t limit = kRequestsPageMax;
};
Open311Result<RequestFilter> parse_request_filter(
    const std::vector<std::pair<std::string, std::string>>& query, base::Micros now);

// The staff workflow's bodies → concise fragments (with updatedAt, statusNotes).
//   assign: {"department", "note"?, "by"}   notes: {"note", "by"}   close: {"note"?, "by"}
base::Result<json::object> workflow_fragment(std::string_view action, const json::object& body,
                                             base::Micros now);

}  // namespace cityroom::governance
