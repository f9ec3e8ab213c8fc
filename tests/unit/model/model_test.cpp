// The tricky rules of reading and writing NGSI-LD entities.
#include <fmt/format.h>

#include "test_support.h"

namespace cityroom::model_test {
namespace {

constexpr base::Micros kNow = 1'700'000'000'000'000;  // 2023-11-14T22:13:20Z
constexpr std::string_view kVocab = "https://uri.etsi.org/ngsi-ld/default-context/";
constexpr std::string_view kSdmWeather =
    R"(["https://raw.githubusercontent.com/smart-data-models/dataModel.Weather/master/context.jsonld"])";

std::string iri(std::string_view term) { return std::string(kVocab) + std::string(term); }

class ModelTest : public StoreFixture {
 protected:
  // Parses a whole entity whose body is {"id", "type": "T", <members>} under the core context.
  base::Result<model::Entity> parse(std::string_view members, model::ParseOptions options = {}) {
    std::string text = R"({"id": "urn:ngsi-ld:T:1", "type": "T")";
    if (!members.empty()) text += ", " + std::string(members);
    text += "}";
    if (options.now == 0) options.now = kNow;
    return model::parse_entity(parse_json(text).as_object(), *store_->core(), options);
  }

  // The only instance of attribute `term` (expanded with the default vocab).
  json::object single(const model::Entity& e, std::string_view term) {
    const json::value* attr = e.if_contains(iri(term));
    EXPECT_TRUE(attr && attr->is_array() && attr->as_array().size() == 1)
        << term << " in " << json::serialize(e);
    return attr ? attr->as_array().front().as_object() : json::object();
  }

  void expect_bad(std::string_view members, std::string_view detail_part) {
    auto e = parse(members);
    ASSERT_FALSE(e) << members << " was accepted: " << json::serialize(*e);
    EXPECT_EQ(e.error().kind, base::ErrorKind::kBadRequestData) << members;
    EXPECT_NE(e.error().detail.find(detail_part), std::string::npos)
        << "detail '" << e.error().detail << "' lacks '" << detail_part << "'";
  }

  json::object render(const model::Entity& e, model::RenderOptions options) {
    return model::render_entity(e, *store_->core(), options);
  }

  json::object render(const model::Entity& e, model::Format format) {
    model::RenderOptions options;
    options.format = format;
    return render(e, options);
  }
};

// ---- concise inference --------------------------------------------------------------------

TEST_F(ModelTest, PlainValuesArePropertiesAndSystemAttributesAreStamped) {
  auto e = parse(R"("n": 3, "s": "x", "b": false, "list": [1, 2], "none": [])");
  ASSERT_TRUE(e) << e.error().detail;
  EXPECT_EQ(single(*e, "n").at("type"), "Property");
  EXPECT_EQ(single(*e, "n").at("value"), 3);
  EXPECT_EQ(single(*e, "s").at("value"), "x");
  EXPECT_EQ(single(*e, "b").at("value"), false);
  EXPECT_EQ(single(*e, "list").at("value"), parse_json("[1, 2]"));
  EXPECT_EQ(single(*e, "none").at("value"), json::array());
  EXPECT_EQ(single(*e, "n").at("createdAt"), json::value(base::format_iso8601(kNow)));
  EXPECT_EQ(e->at("modifiedAt"), json::value(base::format_iso8601(kNow)));
  EXPECT_EQ(e->at("type"), json::value(json::array{json::value(iri("T"))}));
}

TEST_F(ModelTest, ObjectsThatAreNotAttributesAreValues) {
  auto e = parse(R"("address": {"streetAddress": "Teheran-ro 1", "type": "PostalAddress"},
                    "slots": {"free": 3, "total": 9})");
  ASSERT_TRUE(e) << e.error().detail;
  EXPECT_EQ(single(*e, "address").at("type"), "Property");
  EXPECT_EQ(single(*e, "address").at("value"),
            parse_json(R"({"streetAddress": "Teheran-ro 1", "type": "PostalAddress"})"));
  EXPECT_EQ(single(*e, "slots").at("value"), parse_json(R"({"free": 3, "total": 9})"));
}

TEST_F(ModelTest, ValueMembersDecideTheAttributeType) {
  auto e = parse(R"("rel": {"object": "urn:ngsi-ld:X:1"},
                    "name": {"languageMap": {"ko": "강남", "en": "Gangnam"}},
                    "kind": {"vocab": "Park"},
                    "readings": {"valueList": [1, 2, 3]},
                    "parts": {"objectList": ["urn:ngsi-ld:P:1", {"object": "urn:ngsi-ld:P:2"}]},
                    "raw": {"json": {"a": {"type": "Property"}}},
                    "t": {"value": 21.5, "unitCode": "CEL"})");
  ASSERT_TRUE(e) << e.error().detail;
  EXPECT_EQ(single(*e, "rel").at("type"), "Relationship");
  EXPECT_EQ(single(*e, "name").at("type"), "LanguageProperty");
  EXPECT_EQ(single(*e, "kind").at("type"), "VocabProperty");
  EXPECT_EQ(single(*e, "kind").at("vocab"), json::value(iri("Park")));  // vocab values are expanded
  EXPECT_EQ(single(*e, "readings").at("type"), "ListProperty");
  EXPECT_EQ(single(*e, "parts").at("objectList"),
            parse_json(R"([{"object": "urn:ngsi-ld:P:1"}, {"object": "urn:ngsi-ld:P:2"}])"));
  EXPECT_EQ(single(*e, "raw").at("type"), "JsonProperty");
  EXPECT_EQ(single(*e, "raw").at("json"), parse_json(R"({"a": {"type": "Property"}})"));
  EXPECT_EQ(single(*e, "t").at("unitCode"), "CEL");
}

TEST_F(ModelTest, GeometriesAreGeoProperties) {
  auto e = parse(R"("location": {"type": "Point", "coordinates": [127.03, 37.5]},
                    "area": {"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,0]]]},
                    "route": {"value": {"type": "LineString", "coordinates": [[0,0],[1,1]]},
                              "observedAt": "2024-01-02T03:04:05Z"})");
  ASSERT_TRUE(e) << e.error().detail;
  const auto location = e->at("https://uri.etsi.org/ngsi-ld/location").as_array()[0].as_object();
  EXPECT_EQ(location.at("type"), "GeoProperty");
  EXPECT_EQ(single(*e, "area").at("type"), "GeoProperty");
  EXPECT_EQ(single(*e, "route").at("type"), "GeoProperty");
}

TEST_F(ModelTest, ArraysOfAttributesAreInstancesByDatasetId) {
  auto e = parse(R"("speed": [{"value": 50},
                              {"value": 48, "datasetId": "urn:ngsi-ld:Dataset:radar"},
                              {"type": "Property", "value": 51, "datasetId": "urn:ngsi-ld:Dataset:gps"}])");
  ASSERT_TRUE(e) << e.error().detail;
  const auto& instances = e->at(iri("speed")).as_array();
  ASSERT_EQ(instances.size(), 3u);
  EXPECT_FALSE(instances[0].as_object().contains("datasetId"));
  // datasetIds are URIs kept as given, never expanded.
  EXPECT_EQ(instances[1].as_object().at("datasetId"), "urn:ngsi-ld:Dataset:radar");
}

TEST_F(ModelTest, DuplicateDatasetIdsAreRejected) {
  expect_bad(R"("speed": [{"value": 50, "datasetId": "urn:d:1"}, {"value": 5, "datasetId": "urn:d:1"}])",
             "'speed' has two instances with datasetId");
  expect_bad(R"("speed": [{"value": 50}, {"value": 5}])", "'speed' has two default instances");
}

TEST_F(ModelTest, SubAttributesAreParsedRecursivelyAndNotStamped) {
  auto e = parse(R"("temperature": {"value": 21.5, "accuracy": 0.2,
                                    "measuredBy": {"type": "Relationship", "object": "urn:ngsi-ld:Sensor:1"},
                                    "observedAt": "2024-01-02T03:04:05+09:00"})");
  ASSERT_TRUE(e) << e.error().detail;
  auto t = single(*e, "temperature");
  EXPECT_EQ(t.at("observedAt"), "2024-01-02T03:04:05+09:00");
  EXPECT_EQ(t.at(iri("accuracy")), parse_json(R"({"type": "Property", "value": 0.2})"));
  EXPECT_EQ(t.at(iri("measuredBy")).as_object().at("type"), "Relationship");
  EXPECT_TRUE(t.contains("createdAt"));
}

TEST_F(ModelTest, NonAttributeTypeBesideAValueIsRefused) {
  // Seen in real Smart Data Models data: "type": "string" is not an NGSI-LD attribute type.
  expect_bad(R"("level": {"type": "string", "value": "Normal"})",
             "attribute 'level' has type 'string', which is not an NGSI-LD attribute type");
  expect_bad(R"("level": {"type": "Propertee", "value": 1})", "not an NGSI-LD attribute type");
  // Without a value member the object is a concise Property's value.
  auto e = parse(R"("address": {"streetAddress": "테헤란로 1", "type": "PostalAddress"})");
  ASSERT_TRUE(e) << e.error().detail;
  EXPECT_EQ(single(*e, "address").at("type"), "Property");
}

TEST_F(ModelTest, KeyValuesInputMakesPropertiesAndGeoProperties) {
  model::ParseOptions options;
  options.key_values = true;
  auto e = parse(R"("speed": 3, "info": {"value": 1}, "list": [{"value": 1}],
                    "location": {"type": "Point", "coordinates": [1, 2]})",
                 options);
  ASSERT_TRUE(e) << e.error().detail;
  EXPECT_EQ(single(*e, "info").at("value"), parse_json(R"({"value": 1})"));
  EXPECT_EQ(single(*e, "list").at("value"), parse_json(R"([{"value": 1}])"));
  EXPECT_EQ(e->at("https://uri.etsi.org/ngsi-ld/location").as_array()[0].as_object().at("type"),
            "GeoProperty");
}

TEST_F(ModelTest, ClientSystemAttributesAndContextAreIgnoredScopeIsKept) {
  auto e = parse(R"("createdAt": "2000-01-01T00:00:00Z", "@context": "x",
                    "scope": "/Seoul/Gangnam",
                    "n": {"value": 1, "createdAt": "2000-01-01T00:00:00Z"})");
  ASSERT_TRUE(e) << e.error().detail;
  EXPECT_EQ(e->at("createdAt"), json::value(base::format_iso8601(kNow)));
  EXPECT_EQ(single(*e, "n").at("createdAt"), json::value(base::format_iso8601(kNow)));
  EXPECT_FALSE(e->contains("@context"));
  EXPECT_EQ(e->at("scope"), parse_json(R"(["/Seoul/Gangnam"])"));
}

TEST_F(ModelTest, FragmentsNeedNoIdOrType) {
  model::ParseOptions options;
  options.mode = model::ParseMode::kFragment;
  auto e = model::parse_entity(parse_json(R"({"speed": 3})").as_object(), *store_->core(), options);
  ASSERT_TRUE(e) << e.error().detail;
  EXPECT_FALSE(e->contains("id"));
  EXPECT_TRUE(e->contains(iri("speed")));
  auto whole = model::parse_entity(parse_json(R"({"speed": 3})").as_object(), *store_->core(), {});
  ASSERT_FALSE(whole);
  EXPECT_NE(whole.error().detail.find("\"id\""), std::string::npos);
}

TEST_F(ModelTest, NamesAndTypesExpandWithTheUserContext) {
  auto ctx = context(kSdmWeather);
  auto e = model::parse_entity(
      parse_json(R"({"id": "urn:ngsi-ld:W:1", "type": "WeatherObserved", "temperature": 3,
                     "https://example.org/full": 1, "ngsi-ld:thing": 2})")
          .as_object(),
      *ctx, {});
  ASSERT_TRUE(e) << e.error().detail;
  EXPECT_EQ(model::entity_types(*e),
            std::vector<std::string>{"https://smartdatamodels.org/dataModel.Weather/WeatherObserved"});
  EXPECT_TRUE(e->contains("https://smartdatamodels.org/dataModel.Weather/temperature"));
  EXPECT_TRUE(e->contains("https://example.org/full"));
  EXPECT_TRUE(e->contains("https://uri.etsi.org/ngsi-ld/thing"));
}

// ---- validation -------------------------------------------------------------------------------

TEST_F(ModelTest, EntityIdAndTypeAreValidated) {
  auto ctx = store_->core();
  auto bad_id = model::parse_entity(parse_json(R"({"id": "not a uri", "type": "T"})").as_object(),
                                    *ctx, {});
  ASSERT_FALSE(bad_id);
  EXPECT_EQ(bad_id.error().kind, base::ErrorKind::kBadRequestData);
  EXPECT_NE(bad_id.error().detail.find("URI"), std::string::npos);
  for (std::string_view body : {R"({"id": "urn:x:1"})", R"({"id": "urn:x:1", "type": []})",
                                R"({"id": "urn:x:1", "type": 3})",
                                R"({"id": "urn:x:1", "type": ["A", 1]})"}) {
    auto e = model::parse_entity(parse_json(body).as_object(), *ctx, {});
    ASSERT_FALSE(e) << body;
    EXPECT_EQ(e.error().kind, base::ErrorKind::kBadRequestData);
    EXPECT_NE(e.error().detail.find("type"), std::string::npos) << e.error().detail;
  }
}

TEST_F(ModelTest, AttributeValuesAreValidatedWithTheAttributeNamed) {
  expect_bad(R"("owner": {"type": "Relationship", "object": "not a uri"})", "'owner'");
  expect_bad(R"("owner": {"type": "Relationship", "object": []})", "'owner'");
  expect_bad(R"("speed": {"type": "Property"})", "'speed': a Property needs a \"value\"");
  expect_bad(R"("speed": null)", "'speed' has a null value");
  expect_bad(R"("speed": {"value": null})", "'speed'");
  expect_bad(R"("speed": {"value": 1, "observedAt": "yesterday"})", "'speed': observedAt");
  expect_bad(R"("speed": {"value": 1, "unitCode": 5})", "'speed': unitCode");
  expect_bad(R"("speed": {"value": 1, "datasetId": "radar 1"})", "'speed': datasetId");
  expect_bad(R"("name": {"languageMap": {"ko": 5}})", "'name': languageMap");
  expect_bad(R"("kind": {"vocab": 5})", "'kind': vocab");
  expect_bad(R"("list": {"type": "ListProperty", "valueList": 5})", "'list': valueList");
  expect_bad(R"("parts": {"objectList": ["no uri"]})", "'parts': objectList");
  expect_bad(R"("speed": {"value": 1, "object": "urn:x:1"})", "'speed': a Property cannot have");
  expect_bad(R"("speed": {"value": 1, "accuracy": [{"value": 1}, {"value": 2}]})",
             "cannot have several instances");
}

TEST_F(ModelTest, GeometriesAreValidatedStructurally) {
  expect_bad(R"("area": {"type": "Point", "coordinates": [1]})", "'area': invalid Point");
  expect_bad(R"("area": {"type": "Point", "coordinates": ["a", "b"]})", "'area'");
  expect_bad(R"("area": {"type": "LineString", "coordinates": [[1, 2]]})", "'area'");
  expect_bad(R"("area": {"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,1]]]})",
             "closed");
  expect_bad(R"("area": {"type": "Polygon", "coordinates": [[[0,0],[1,0],[0,0]]]})", "ring");
  expect_bad(R"("area": {"type": "GeoProperty", "value": {"type": "Circle", "coordinates": [1,2]}})",
             "'area'");
  expect_bad(R"j("area": {"type": "GeoProperty", "value": "POINT(1 2)"})j", "'area'");
}

TEST_F(ModelTest, LocationMustBeAGeometry) {
  expect_bad(R"("location": "Seoul")", "'location' must be a GeoProperty");
  expect_bad(R"("location": {"city": "Seoul"})", "'location' must be a GeoProperty");
  expect_bad(R"("location": {"type": "Property", "value": "Seoul"})",
             "'location' must be a GeoProperty");
  expect_bad(R"("observationSpace": {"value": 3})", "'observationSpace' must be a GeoProperty");
}

TEST_F(ModelTest, CoordinateRangeIsCheckedByDefault) {
  const std::string_view members = R"("location": {"type": "Point", "coordinates": [-56.6, 168.4]})";
  model::ParseOptions lax;
  lax.coordinate_range_check = false;
  EXPECT_TRUE(parse(members, lax));
  auto e = parse(members);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().detail.find("range"), std::string::npos);
}

TEST_F(ModelTest, AttributeNamesAreValidated) {
  for (std::string_view name : {"bad name", "a=b", "a(b)", "semi;colon", "quote'", "tab\\t"}) {
    const std::string members = fmt::format(R"("{}": 1)", name);
    expect_bad(members, "invalid attribute name");
  }
  expect_bad(R"("": 1)", "invalid attribute name");
  expect_bad(R"("observedAt": "2024-01-02T03:04:05Z")", "'observedAt' is an attribute member");
  expect_bad(R"("@id": "urn:x:2")", "keyword");
}

// ---- rendering --------------------------------------------------------------------------------

TEST_F(ModelTest, NormalizedRenderingCompactsNamesAndTypes) {
  auto ctx = context(kSdmWeather);
  auto e = model::parse_entity(
      parse_json(R"({"id": "urn:ngsi-ld:W:1", "type": ["WeatherObserved", "Thing"],
                     "temperature": 3, "kind": {"vocab": "Sunny"}})")
          .as_object(),
      *ctx, {});
  ASSERT_TRUE(e) << e.error().detail;
  auto out = model::render_entity(*e, *ctx, {});
  EXPECT_EQ(out, parse_json(R"({"id": "urn:ngsi-ld:W:1", "type": ["WeatherObserved", "Thing"],
                                "temperature": {"type": "Property", "value": 3},
                                "kind": {"type": "VocabProperty", "vocab": "Sunny"}})"));
}

TEST_F(ModelTest, ConciseRenderingKeepsWhatAReaderNeeds) {
  auto e = parse(R"("n": 3,
                    "wrapped": {"value": {"value": 1}},
                    "attrish": {"value": {"type": "Relationship", "object": "urn:x:1"}},
                    "geoval": {"type": "Property", "value": {"type": "Point", "coordinates": [1, 2]}},
                    "location": {"type": "Point", "coordinates": [1, 2]},
                    "route": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1, 2]},
                              "observedAt": "2024-01-02T03:04:05Z"},
                    "rel": {"type": "Relationship", "object": "urn:x:1"},
                    "t": {"value": 3, "unitCode": "CEL", "accuracy": 0.5})");
  ASSERT_TRUE(e) << e.error().detail;
  auto out = render(*e, model::Format::kConcise);
  EXPECT_EQ(out.at("n"), 3);
  EXPECT_EQ(out.at("wrapped"), parse_json(R"({"value": {"value": 1}})"));
  EXPECT_EQ(out.at("attrish"),
            parse_json(R"({"value": {"type": "Relationship", "object": "urn:x:1"}})"));
  EXPECT_EQ(out.at("geoval"),
            parse_json(R"({"type": "Property", "value": {"type": "Point", "coordinates": [1, 2]}})"));
  EXPECT_EQ(out.at("location"), parse_json(R"({"type": "Point", "coordinates": [1, 2]})"));
  EXPECT_EQ(out.at("route"), parse_json(R"({"value": {"type": "Point", "coordinates": [1, 2]},
                                            "observedAt": "2024-01-02T03:04:05Z"})"));
  EXPECT_EQ(out.at("rel"), parse_json(R"({"object": "urn:x:1"})"));
  EXPECT_EQ(out.at("t"), parse_json(R"({"value": 3, "unitCode": "CEL", "accuracy": 0.5})"));
  // And it reads back as the same entity.
  auto reread = model::parse_entity(out, *store_->core(), {.now = kNow});
  ASSERT_TRUE(reread) << reread.error().detail;
  EXPECT_EQ(*reread, *e);
}

TEST_F(ModelTest, ConciseMultiInstanceAttributesNeverRenderBare) {
  auto e = parse(R"("speed": [{"value": 50}, {"value": 48, "datasetId": "urn:d:radar"}])");
  ASSERT_TRUE(e) << e.error().detail;
  auto out = render(*e, model::Format::kConcise);
  EXPECT_EQ(out.at("speed"),
            parse_json(R"([{"value": 50}, {"value": 48, "datasetId": "urn:d:radar"}])"));
}

TEST_F(ModelTest, KeyValuesRendering) {
  auto e = parse(R"("speed": [{"value": 48, "datasetId": "urn:d:radar"}, {"value": 50}],
                    "rel": {"object": "urn:x:1"},
                    "name": {"languageMap": {"ko": "강남", "en": "Gangnam"}},
                    "kind": {"vocab": ["Park", "Garden"]},
                    "parts": {"objectList": ["urn:p:1", "urn:p:2"]},
                    "raw": {"json": {"k": 1}},
                    "location": {"type": "Point", "coordinates": [1, 2]})");
  ASSERT_TRUE(e) << e.error().detail;
  auto out = render(*e, model::Format::kKeyValues);
  EXPECT_EQ(out, parse_json(R"({"id": "urn:ngsi-ld:T:1", "type": "T", "speed": 50,
                                "rel": "urn:x:1", "name": {"ko": "강남", "en": "Gangnam"},
                                "kind": ["Park", "Garden"], "parts": ["urn:p:1", "urn:p:2"],
                                "raw": {"k": 1},
                                "location": {"type": "Point", "coordinates": [1, 2]}})"));
  model::RenderOptions lang;
  lang.format = model::Format::kKeyValues;
  lang.lang = "en";
  EXPECT_EQ(render(*e, lang).at("name"), "Gangnam");
}

TEST_F(ModelTest, SysAttrsAddCreatedAndModifiedAt) {
  auto e = parse(R"("n": {"value": 3, "accuracy": 1})");
  ASSERT_TRUE(e);
  const json::value now(base::format_iso8601(kNow));
  for (auto format : {model::Format::kNormalized, model::Format::kConcise}) {
    model::RenderOptions options;
    options.format = format;
    options.sys_attrs = true;
    auto out = render(*e, options);
    EXPECT_EQ(out.at("createdAt"), now);
    EXPECT_EQ(out.at("modifiedAt"), now);
    EXPECT_EQ(out.at("n").as_object().at("createdAt"), now);
    EXPECT_EQ(out.at("n").as_object().at("modifiedAt"), now);
    options.sys_attrs = false;
    out = render(*e, options);
    EXPECT_FALSE(out.contains("createdAt"));
    EXPECT_FALSE(out.at("n").is_object() && out.at("n").as_object().contains("createdAt"));
  }
}

TEST_F(ModelTest, ProjectionKeepsAndOmitsAttributesIdAndType) {
  auto e = parse(R"("a": 1, "b": 2, "c": 3)");
  ASSERT_TRUE(e);
  model::RenderOptions options;
  options.format = model::Format::kKeyValues;
  options.attrs.emplace();
  options.attrs->insert(iri("a"));
  options.attrs->insert(iri("b"));
  options.omit.insert(iri("b"));
  EXPECT_EQ(render(*e, options), parse_json(R"({"id": "urn:ngsi-ld:T:1", "type": "T", "a": 1})"));
  options.omit_id = true;
  options.omit_type = true;
  EXPECT_EQ(render(*e, options), parse_json(R"({"a": 1})"));
}

TEST_F(ModelTest, LangPicksTheBestLanguage) {
  auto e = parse(R"("name": {"languageMap": {"ko-KR": "강남구", "en": "Gangnam-gu", "@none": "GN"},
                             "observedAt": "2024-01-02T03:04:05Z"})");
  ASSERT_TRUE(e);
  auto rendered = [&](std::string_view lang, model::Format format = model::Format::kNormalized) {
    model::RenderOptions options;
    options.format = format;
    options.lang = std::string(lang);
    return render(*e, options).at("name");
  };
  EXPECT_EQ(rendered("ko"), parse_json(R"({"type": "Property", "value": "강남구", "lang": "ko-KR",
                                           "observedAt": "2024-01-02T03:04:05Z"})"));
  EXPECT_EQ(rendered("EN").as_object().at("value"), "Gangnam-gu");
  EXPECT_EQ(rendered("fr;q=0.9,en;q=0.5,ko;q=0.1").as_object().at("lang"), "en");
  EXPECT_EQ(rendered("fr").as_object().at("lang"), "@none");
  EXPECT_EQ(rendered("ko", model::Format::kConcise),
            parse_json(R"({"value": "강남구", "lang": "ko-KR", "observedAt": "2024-01-02T03:04:05Z"})"));
  EXPECT_EQ(rendered("*").as_object().at("type"), "LanguageProperty");
  EXPECT_TRUE(rendered("*").as_object().contains("languageMap"));
}

TEST_F(ModelTest, LangFallsBackToTheFirstEntryWithoutNone) {
  auto e = parse(R"("name": {"languageMap": {"ko": "강남구", "en": "Gangnam-gu"}})");
  ASSERT_TRUE(e);
  model::RenderOptions options;
  options.lang = "fr";
  EXPECT_EQ(render(*e, options).at("name").as_object().at("lang"), "ko");
}

TEST_F(ModelTest, DatasetIdSelectsInstances) {
  auto e = parse(R"("speed": [{"value": 50}, {"value": 48, "datasetId": "urn:d:radar"}], "n": 1)");
  ASSERT_TRUE(e);
  model::RenderOptions options;
  options.dataset_ids.emplace();
  options.dataset_ids->insert("urn:d:radar");
  auto out = render(*e, options);
  EXPECT_EQ(out.at("speed"),
            parse_json(R"({"type": "Property", "value": 48, "datasetId": "urn:d:radar"})"));
  EXPECT_FALSE(out.contains("n"));  // no instance with that datasetId
  options.dataset_ids = std::set<std::string, std::less<>>{"@none"};
  EXPECT_EQ(render(*e, options).at("speed"), parse_json(R"({"type": "Property", "value": 50})"));
  options.dataset_ids = std::set<std::string, std::less<>>{"urn:d:other"};
  EXPECT_TRUE(model::render_attribute(e->at(iri("speed")).as_array(), *store_->core(), options)
                  .is_null());
}

TEST_F(ModelTest, FeatureRendering) {
  auto e = parse(R"("location": {"type": "Point", "coordinates": [127.0, 37.5]},
                    "spot": {"type": "Point", "coordinates": [1, 2]}, "n": 4)");
  ASSERT_TRUE(e);
  model::RenderOptions options;
  options.format = model::Format::kKeyValues;
  auto feature = model::render_feature(*e, *store_->core(), options, "");
  EXPECT_EQ(feature.at("id"), "urn:ngsi-ld:T:1");
  EXPECT_EQ(feature.at("type"), "Feature");
  EXPECT_EQ(feature.at("geometry"), parse_json(R"({"type": "Point", "coordinates": [127.0, 37.5]})"));
  EXPECT_EQ(feature.at("properties").as_object().at("type"), "T");
  EXPECT_EQ(feature.at("properties").as_object().at("n"), 4);
  EXPECT_FALSE(feature.at("properties").as_object().contains("id"));
  auto spot = model::render_feature(*e, *store_->core(), options, iri("spot"));
  EXPECT_EQ(spot.at("geometry"), parse_json(R"({"type": "Point", "coordinates": [1, 2]})"));
  auto none = model::render_feature(*e, *store_->core(), options, iri("n"));
  EXPECT_TRUE(none.at("geometry").is_null());
}

TEST(ModelHelpers, ReservedMembersAndValueMembers) {
  for (std::string_view name : {"id", "type", "scope", "createdAt", "modifiedAt", "observedAt",
                                "unitCode", "datasetId", "value", "object", "languageMap",
                                "vocab", "valueList", "objectList", "json"}) {
    EXPECT_TRUE(model::is_reserved_member(name)) << name;
  }
  EXPECT_FALSE(model::is_reserved_member("https://uri.etsi.org/ngsi-ld/default-context/speed"));
  EXPECT_EQ(model::value_member("Property"), "value");
  EXPECT_EQ(model::value_member("GeoProperty"), "value");
  EXPECT_EQ(model::value_member("Relationship"), "object");
  EXPECT_EQ(model::value_member("LanguageProperty"), "languageMap");
  EXPECT_EQ(model::value_member("VocabProperty"), "vocab");
  EXPECT_EQ(model::value_member("ListProperty"), "valueList");
  EXPECT_EQ(model::value_member("ListRelationship"), "objectList");
  EXPECT_EQ(model::value_member("JsonProperty"), "json");
  EXPECT_EQ(model::value_member("Thing"), "");
}

}  // namespace
}  // namespace cityroom::model_test
