#include "governance/requests.h"

#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "governance/entity_view.h"

namespace cityroom::governance {
namespace {

Open311Error err(int code, std::string d) { return {code, std::move(d)}; }

std::optional<double> parse_double(std::string_view s) {
  if (s.empty() || s.size() > 40) return std::nullopt;
  std::string copy(s);
  char* end = nullptr;
  const double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

json::object datetime(base::Micros t) {
  return {{"@type", "DateTime"}, {"@value", base::format_iso8601(t)}};
}

std::vector<std::string> split(std::string_view s) {
  std::vector<std::string> out;
  while (true) {
    const auto comma = s.find(',');
    auto part = s.substr(0, comma);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (!part.empty()) out.emplace_back(part);
    if (comma == std::string_view::npos) return out;
    s.remove_prefix(comma + 1);
  }
}

// Open311 dates are ISO 8601 with an offset ("2010-04-14T06:37:38-08:00"); as in NGSI-LD we
// render UTC with Z.
std::string iso_no_fraction(std::string_view iso) {
  auto t = base::parse_iso8601(iso);
  if (!t) return std::string(iso);
  std::string s = base::format_iso8601(*t / 1'000'000 * 1'000'000);
  // format_iso8601 may keep a zero fraction; Open311 examples have whole seconds.
  if (const auto dot = s.find('.'); dot != std::string::npos) s = s.substr(0, dot) + "Z";
  return s;
}

}  // namespace

std::string new_request_key(base::Micros now) {
  const std::string iso = base::format_iso8601(now);
  return iso.substr(0, 4) + iso.substr(5, 2) + iso.substr(8, 2) + "-" + base::random_hex(4);
}

Open311Result<NewRequest> request_from_form(const FormFields& form, const Open311Config& config,
                                            std::string key, base::Micros now) {
  const auto get = [&](std::string_view n) -> std::string {
    const std::string* v = form_value(form, n);
    return v ? *v : std::string();
  };
  const std::string api_key = get("api_key");
  if (api_key.empty()) return std::unexpected(err(403, "api_key is required to submit a request"));
  if (!config.key_ok(api_key)) return std::unexpected(err(403, "api_key is not valid"));
  const std::string code = get("service_code");
  if (code.empty()) return std::unexpected(err(400, "service_code is required"));
  const Service* service = config.find(code);
  if (!service) {
    return std::unexpected(err(404, fmt::format("service_code '{}' is not a service of this "
                                                "jurisdiction (see services)", code)));
  }
  const std::string lat_s = get("lat"), lon_s = get("long");
  const std::string address = get("address_string"), address_id = get("address_id");
  NewRequest r;
  if (!lat_s.empty() || !lon_s.empty()) {
    const auto lat = parse_double(lat_s), lon = parse_double(lon_s);
    if (!lat || !lon || *lat < -90 || *lat > 90 || *lon < -180 || *lon > 180) {
      return std::unexpected(err(400, "lat and long must both be given as WGS84 decimal degrees"));
    }
    r.point = std::pair{*lon, *lat};
  } else if (address.empty() && address_id.empty()) {
    return std::unexpected(
        err(400, "a location is required: lat and long, address_string or address_id"));
  }
  const std::string description = get("description");
  if (description.size() > kDescriptionBytesMax) {
    return std::unexpected(err(400, fmt::format("description is longer than {} bytes",
                                                kDescriptionBytesMax)));
  }
  for (const auto& [name, value] : form) {
    if (value.size() > kDescriptionBytesMax) {
      return std::unexpected(err(400, fmt::format("{} is longer than {} bytes", name,
                                                  kDescriptionBytesMax)));
    }
  }
  const std::string media = get("media_url");
  if (!media.empty() && !base::is_uri(media)) {
    return std::unexpected(err(400, "media_url must be a URL"));
  }
  // attribute[CODE]=value (multivaluelist: attribute[CODE][]=v repeated).
  json::object values;
  for (const auto& [name, value] : form) {
    if (!name.starts_with("attribute[")) continue;
    const auto close = name.find(']');
    if (close == std::string::npos) {
      return std::unexpected(err(400, fmt::format("'{}' is not attribute[CODE]", name)));
    }
    const std::string acode = name.substr(10, close - 10);
    const ServiceAttribute* def = nullptr;
    for (const auto& a : service->attributes) {
      if (a.code == acode) def = &a;
    }
    if (!def) {
      return std::unexpected(err(400, fmt::format("attribute '{}' is not defined for service '{}'",
                                                  acode, code)));
    }
    if (def->datatype.ends_with("valuelist")) {
      bool known = false;
      for (const auto& [k, n] : def->values) known = known || k == value;
      if (!known) {
        return std::unexpected(err(400, fmt::format("attribute '{}': '{}' is not one of its "
                                                    "values", acode, value)));
      }
    } else if (def->datatype == "number" && !parse_double(value)) {
      return std::unexpected(err(400, fmt::format("attribute '{}' must be a number", acode)));
    } else if (def->datatype == "datetime" && !base::parse_iso8601(value)) {
      return std::unexpected(err(400, fmt::format("attribute '{}' must be an ISO 8601 date-time",
                                                  acode)));
    }
    if (def->datatype == "multivaluelist") {
      if (!values.contains(acode)) values[acode] = json::array();
      values[acode].as_array().push_back(json::value(value));
    } else {
      values[acode] = value;
    }
  }
  for (const auto& a : service->attributes) {
    if (a.required && a.variable && !values.contains(a.code)) {
      return std::unexpected(err(400, fmt::format("attribute[{}] is required for service '{}'",
                                                  a.code, code)));
    }
  }
  r.key = std::move(key);
  r.id = "urn:ngsi-ld:ServiceRequest:" + r.key;
  json::object e{{"id", r.id},
                 {"type", kRequestType},
                 {"serviceCode", code},
                 {"serviceName", service->name},
                 {"status", "open"},
                 {"requestedAt", datetime(now)},
                 {"updatedAt", datetime(now)},
                 {"channel", "open311"}};
  if (!description.empty()) e["description"] = description;
  if (!service->department.empty()) e["department"] = service->department;
  if (!address.empty()) e["address"] = address;
  if (!address_id.empty()) e["addressId"] = address_id;
  if (!media.empty()) e["mediaUrl"] = media;
  if (!values.empty()) e["serviceAttributes"] = json::object{{"type", "JsonProperty"}, {"json", values}};
  if (r.point) {
    e["location"] = json::object{
        {"type", "GeoProperty"},
        {"value", json::object{{"type", "Point"},
                               {"coordinates", json::array{r.point->first, r.point->second}}}}};
  }
  for (std::string_view f : {"first_name", "last_name", "phone", "email", "device_id",
                             "account_id"}) {
    if (const auto v = get(f); !v.empty()) r.contact[f] = v;
  }
  r.entity = std::move(e);
  return r;
}

json::object open311_request(const json::object& kv) {
  const std::string id = str(kv, "id");
  json::object o{{"service_request_id", id_key(id, kRequestType)},
                 {"status", str(kv, "status") == "closed" ? "closed" : "open"},
                 {"status_notes", str(kv, "statusNotes")},
                 {"service_name", str(kv, "serviceName")},
                 {"service_code", str(kv, "serviceCode")},
                 {"description", str(kv, "description")},
                 {"agency_responsible", str(kv, "department")},
                 {"service_notice", ""}};
  const auto time_of = [&](std::string_view k) -> std::string {
    const json::value* v = json::find(kv, k);
    if (v && v->is_string()) return iso_no_fraction(v->as_string());
    if (v && v->is_object()) {
      if (auto s = json::get_string(v->as_object(), "@value")) return iso_no_fraction(*s);
    }
    return {};
  };
  o["requested_datetime"] = time_of("requestedAt");
  auto updated = time_of("updatedAt");
  o["updated_datetime"] = updated.empty() ? time_of("modifiedAt") : updated;
  o["expected_datetime"] = time_of("expectedAt");
  o["address"] = str(kv, "address");
  o["address_id"] = str(kv, "addressId");
  o["zipcode"] = str(kv, "zipcode");
  o["lat"] = nullptr;
  o["long"] = nullptr;
  if (const auto* loc = json::find(kv, "location"); loc && loc->is_object()) {
    const auto* c = json::find(loc->as_object(), "coordinates");
    if (c && c->is_array() && c->as_array().size() >= 2 && c->as_array()[0].is_number()) {
      o["long"] = c->as_array()[0];
      o["lat"] = c->as_array()[1];
    }
  }
  o["media_url"] = str(kv, "mediaUrl");
  return o;
}

Open311Result<RequestFilter> parse_request_filter(
    const std::vector<std::pair<std::string, std::string>>& query, base::Micros now) {
  RequestFilter f;
  bool has_start = false, has_end = false;
  for (const auto& [name, value] : query) {
    if (name == "service_request_id") {
      f.ids = split(value);
    } else if (name == "service_code") {
      f.codes = split(value);
    } else if (name == "start_date" || name == "end_date") {
      const auto t = base::parse_iso8601(value, true);
      if (!t) {
        return std::unexpected(err(400, fmt::format("{} '{}' is not an ISO 8601 date-time", name,
                                                    value)));
      }
      (name == "start_date" ? f.start : f.end) = *t;
      (name == "start_date" ? has_start : has_end) = true;
    } else if (name == "status") {
      f.statuses = split(value);
      for (const auto& s : f.statuses) {
        if (s != "open" && s != "closed") {
          return std::unexpected(err(400, fmt::format("status '{}' is not open or closed", s)));
        }
      }
    } else if (name == "api_key" || name == "jurisdiction_id") {
      // accepted and ignored on reads: the requests are public
    } else {
      return std::unexpected(err(400, fmt::format("'{}' is not a parameter of GET requests "
                                                  "(service_request_id, service_code, start_date, "
                                                  "end_date, status)", name)));
    }
  }
  // Open311: without dates, the last 90 days; a window longer than 90 days is the client's
  // choice when both ends are given.
  if (!has_end) f.end = now + 1;
  if (!has_start) f.start = (has_end ? f.end : now) - kDefaultWindow;
  if (f.start >= f.end && f.ids.empty()) {
    return std::unexpected(err(400, "start_date must be before end_date"));
  }
  return f;
}

base::Result<json::object> workflow_fragment(std::string_view action, const json::object& body,
                                             base::Micros now) {
  const auto bad = [](std::string d) { return base::fail(base::ErrorKind::kBadRequestData, std::move(d)); };
  for (const auto& [k, v] : body) {
    if (k != "department" && k != "note" && k != "by") {
      return bad(fmt::format("'{}' is not a member of a {} body (department, note, by)",
                             std::string(k), action));
    }
    if (!v.is_string() || v.as_string().empty()) {
      return bad(fmt::format("{} must be a non-empty string", std::string(k)));
    }
  }
  const auto by = json::get_string(body, "by");
  if (!by) return bad("by (the staff member acting) is required");
  const auto note = json::get_string(body, "note");
  const auto department = json::get_string(body, "department");
  json::object f{{"modifiedBy", *by}, {"updatedAt", datetime(now)}};
  if (action == "assign") {
    if (!department) return bad("department is required to assign a request");
    f["department"] = *department;
    f["statusNotes"] = note ? std::string(*note) : fmt::format("assigned to {}", *department);
  } else if (action == "notes") {
    if (!note) return bad("note is required");
    if (department) return bad("use assign to change the department");
    f["statusNotes"] = *note;
  } else if (action == "close") {
    if (department) return bad("use assign to change the department");
    f["status"] = "closed";
    f["closedAt"] = datetime(now);
    f["statusNotes"] = note ? std::string(*note) : std::string("closed");
  } else if (action == "reopen") {
    f["status"] = "open";
    f["statusNotes"] = note ? std::string(*note) : std::string("reopened");
  } else {
    return bad(fmt::format("unknown action '{}'", action));
  }
  return f;
}

}  // namespace cityroom::governance
