// Shared test entity for the query tests: one entity in the internal form (model.h) with an
// attribute of every kind. Names are left unexpanded, as a q is before expand_names.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "json/json.h"
#include "model/model.h"

namespace cityroom::query::testing {

inline constexpr std::string_view kRoom = R"({
  "id": "urn:ngsi-ld:Room:1",
  "type": ["https://ex.org/Room", "https://ex.org/Place"],
  "scope": ["/Seoul/Gangnam/Yeoksam", "/Org/A"],
  "createdAt": "2024-01-01T00:00:00Z",
  "modifiedAt": "2024-06-01T00:00:00Z",
  "temperature": [{"type": "Property", "value": 21.5, "unitCode": "CEL",
                   "observedAt": "2024-05-01T10:00:00Z",
                   "accuracy": {"type": "Property", "value": 0.5,
                                "observedAt": "2024-05-01T09:00:00Z"},
                   "sensor": {"type": "Relationship", "object": "urn:ngsi-ld:Sensor:9"},
                   "calibration": {"type": "Property", "value": {"by": "kim", "year": 2023}}}],
  "https://ex.org/v1.2/speed": [{"type": "Property", "value": 30,
                                 "observedAt": "2024-05-01T00:00:00Z"}],
  "count": [{"type": "Property", "value": 7}],
  "negative": [{"type": "Property", "value": -3}],
  "big": [{"type": "Property", "value": 9007199254740993}],
  "huge": [{"type": "Property", "value": 18446744073709551615}],
  "name": [{"type": "Property", "value": "Main Hall"}],
  "quote": [{"type": "Property", "value": "say \"hi\""}],
  "open": [{"type": "Property", "value": true}],
  "nothing": [{"type": "Property", "value": null}],
  "tags": [{"type": "Property", "value": ["red", "blue"]}],
  "readings": [{"type": "Property", "value": [3, 8, 15]}],
  "address": [{"type": "Property",
               "value": {"street": "Teheran-ro", "number": 5, "geo": {"zip": "06234"}}}],
  "since": [{"type": "Property",
             "value": {"@type": "DateTime", "@value": "2023-03-04T05:06:07Z"}}],
  "opens": [{"type": "Property", "value": "09:00:00"}],
  "day": [{"type": "Property", "value": "2024-02-29"}],
  "owner": [{"type": "Relationship", "object": "urn:ngsi-ld:Person:alice",
             "observedAt": "2024-05-01T00:00:00Z"}],
  "members": [{"type": "Relationship",
               "object": ["urn:ngsi-ld:Person:bob", "urn:ngsi-ld:Person:carol"]}],
  "label": [{"type": "LanguageProperty", "languageMap": {"en": "Hall", "ko": "홀"}}],
  "category": [{"type": "VocabProperty", "vocab": "https://ex.org/Meeting"}],
  "steps": [{"type": "ListProperty", "valueList": [1, 2, 3]}],
  "route": [{"type": "ListRelationship",
             "objectList": [{"object": "urn:a"}, {"object": "urn:b"}]}],
  "config": [{"type": "JsonProperty", "json": {"mode": "eco", "level": 2}}],
  "power": [{"type": "Property", "value": 100, "datasetId": "urn:ds:meter1"},
            {"type": "Property", "value": 250, "datasetId": "urn:ds:meter2"}],
  "location": [{"type": "GeoProperty",
                "value": {"type": "Point", "coordinates": [127.0, 37.5]}}]
})";

inline model::Entity entity_from(std::string_view text) {
  auto parsed = json::parse(text);
  EXPECT_TRUE(parsed) << (parsed ? "" : parsed.error().detail);
  return parsed ? parsed->as_object() : model::Entity{};
}

inline const model::Entity& room() {
  static const model::Entity entity = entity_from(kRoom);
  return entity;
}

}  // namespace cityroom::query::testing
