// governance/services: the Open311 service catalogue — the categories citizens may file a
// request under, with their definitions (extra attributes), the responsible department and
// the API keys accepted for POST — loaded from a JSON file (data/governance/open311.json), so a
// city edits its categories without code. Immutable after loading; thread-safe.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "base/base.h"
#include "json/json.h"

namespace cityroom::governance {

struct ServiceAttribute {
  std::string code;
  std::string datatype;  // string, number, datetime, text, singlevaluelist, multivaluelist
  bool required = false;
  bool variable = true;
  std::string description;
  std::string datatype_description;
  int order = 0;
  std::vector<std::pair<std::string, std::string>> values;  // key, name (for *valuelist)
};

struct Service {
  std::string code;
  std::string name;
  std::string description;
  std::string group;
  std::vector<std::string> keywords;
  std::string department;  // assigned on arrival (staff may reassign)
  std::vector<ServiceAttribute> attributes;
};

struct Open311Config {
  std::string jurisdiction_id;
  std::string contact;
  std::string key_service;
  std::string changeset;  // ISO 8601: when the catalogue last changed
  std::vector<std::string> api_keys;
  std::vector<Service> services;

  const Service* find(std::string_view code) const;
  bool key_ok(std::string_view key) const;
};

// Errors name the member: "open311.json: services[2].attributes[0].datatype: 'float' is not
// one of string, number, datetime, text, singlevaluelist, multivaluelist".
base::Result<Open311Config> parse_open311_config(std::string_view text, std::string_view name);
base::Result<Open311Config> load_open311_config(const std::filesystem::path& file);

}  // namespace cityroom::governance
