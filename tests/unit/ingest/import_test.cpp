// Declarative import: CSV reading and decoding, mapping validation, record → entity, and a whole
// import into a hub on a temporary store (re-import updates, never duplicates).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "ingest/import.h"
#include "model/model.h"
#include "store/store.h"

namespace cityroom::ingest {
namespace {

namespace fs = std::filesystem;

json::value parse_json(std::string_view text) {
  auto v = json::parse(text);
  EXPECT_TRUE(v) << text;
  return v ? *v : json::value();
}

base::Result<ImportMapping> mapping(std::string_view text) {
  return parse_import_mapping(parse_json(text), "/m");
}

ImportMapping must_mapping(std::string_view text) {
  auto m = mapping(text);
  EXPECT_TRUE(m) << m.error().detail;
  return m ? *m : ImportMapping{};
}

std::string error_of(std::string_view text) {
  auto m = mapping(text);
  EXPECT_FALSE(m) << text;
  return m ? "" : m.error().detail;
}

// ---- CSV ---------------------------------------------------------------------------------

TEST(ImportCsv, QuotedFieldsWithDelimitersQuotesAndNewlines) {
  const auto p = parse_csv("a,b,c\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\n1,2,3");
  ASSERT_TRUE(p.errors.empty());
  ASSERT_EQ(p.records.size(), 3u);
  EXPECT_EQ(p.records[1].fields, (std::vector<std::string>{"x, y", "say \"hi\"", "two\nlines"}));
  EXPECT_EQ(p.records[1].line, 2u);
  // The record after a quoted newline starts on line 4; no newline at the end is fine.
  EXPECT_EQ(p.records[2].line, 4u);
  EXPECT_EQ(p.records[2].fields, (std::vector<std::string>{"1", "2", "3"}));
}

TEST(ImportCsv, CrlfBlankLinesAndEmptyFields) {
  const auto p = parse_csv("a,b\r\n\r\n1,\r\n,2\r\n");
  ASSERT_TRUE(p.errors.empty());
  ASSERT_EQ(p.records.size(), 3u);
  EXPECT_EQ(p.records[1].fields, (std::vector<std::string>{"1", ""}));
  EXPECT_EQ(p.records[1].line, 3u);
  EXPECT_EQ(p.records[2].fields, (std::vector<std::string>{"", "2"}));
}

TEST(ImportCsv, UnterminatedQuoteIsAnErrorWithItsLine) {
  const auto p = parse_csv("a,b\n1,2\n3,\"open\n4,5\n");
  ASSERT_EQ(p.records.size(), 2u);
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_EQ(p.errors[0].line, 3u);
  EXPECT_NE(p.errors[0].message.find("never closed"), std::string::npos);
}

TEST(ImportCsv, OtherDelimiter) {
  const auto p = parse_csv("a;b\n1,5;2\n", ';');
  ASSERT_EQ(p.records.size(), 2u);
  EXPECT_EQ(p.records[1].fields, (std::vector<std::string>{"1,5", "2"}));
}

TEST(ImportDecode, Utf8BomIsRemoved) {
  auto t = decode_to_utf8("\xEF\xBB\xBFname\n", "UTF-8");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t, "name\n");
}

TEST(ImportDecode, Cp949BecomesUtf8) {
  // "강남구,위도" in CP949 (EUC-KR compatible).
  auto t = decode_to_utf8("\xB0\xAD\xB3\xB2\xB1\xB8,\xC0\xA7\xB5\xB5\n", "CP949");
  ASSERT_TRUE(t) << t.error().detail;
  EXPECT_EQ(*t, "강남구,위도\n");
  auto e = decode_to_utf8("\xB0\xAD\xB3\xB2\xB1\xB8\n", "EUC-KR");
  ASSERT_TRUE(e) << e.error().detail;
  EXPECT_EQ(*e, "강남구\n");
}

TEST(ImportDecode, WrongEncodingNamesTheLine) {
  // CP949 bytes declared as UTF-8: the error says where and what to do.
  auto t = decode_to_utf8("a,b\nok,1\n\xB0\xAD,2\n", "UTF-8");
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().detail.find("line 3"), std::string::npos) << t.error().detail;
  EXPECT_NE(t.error().detail.find("source.encoding"), std::string::npos);
  auto u = decode_to_utf8("abc", "NO-SUCH-ENCODING");
  ASSERT_FALSE(u);
  EXPECT_NE(u.error().detail.find("NO-SUCH-ENCODING"), std::string::npos);
  // A truncated double-byte character at the end.
  auto v = decode_to_utf8("a\n\xB0", "CP949");
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().detail.find("line 2"), std::string::npos) << v.error().detail;
}

// ---- mapping validation -------------------------------------------------------------------

constexpr std::string_view kCctv = R"({
  "name": "cctv",
  "source": {"format": "csv", "file": "cctv.csv"},
  "where": {"column": "gu", "equals": "강남구"},
  "entity": {"type": "Camera", "id": "urn:ngsi-ld:Camera:{addr}", "scope": "/Seoul/Gangnam"},
  "location": {"latitude": "lat", "longitude": "lon"},
  "attributes": {
    "name": {"column": "addr"},
    "cameraNum": {"column": "n", "type": "integer"},
    "dateModified": {"column": "updated", "type": "date"},
    "height": {"column": "h", "type": "number", "scale": 0.01, "unitCode": "MTR"}
  }
})";

TEST(ImportMappingCheck, AValidMappingReadsEveryPart) {
  const auto m = must_mapping(kCctv);
  EXPECT_EQ(m.name, "cctv");
  EXPECT_EQ(m.source_file, fs::path("/m/cctv.csv"));
  EXPECT_EQ(m.entity_type, "Camera");
  EXPECT_EQ(m.id_template, "urn:ngsi-ld:Camera:{addr}");
  EXPECT_EQ(m.latitude_column, "lat");
  ASSERT_EQ(m.attributes.size(), 4u);
  EXPECT_EQ(m.attributes[1].type, ValueType::kInteger);
  EXPECT_EQ(m.attributes[3].scale, 0.01);
  EXPECT_EQ(m.upsert, UpsertMode::kUpdate);
}

TEST(ImportMappingCheck, ErrorsNameTheMember) {
  EXPECT_NE(error_of(R"({"source":{"format":"csv"},"entity":{"type":"T","id":"urn:x:{a}"},
                         "atributes":{}})")
                .find("unknown member 'atributes'"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"source":{"format":"xls"},"entity":{"type":"T","id":"urn:x:{a}"}})")
                .find("source.format: 'xls' is not one of csv, geojson"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"source":{"format":"csv"}})").find("needs an entity"), std::string::npos);
  EXPECT_NE(error_of(R"({"source":{"format":"csv"},"entity":{"type":"T","id":"{a}"}})")
                .find("entity.id"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"source":{"format":"csv"},"entity":{"type":"T","id":"urn:x:{a"}})")
                .find("'{' without '}'"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"source":{"format":"csv"},"entity":{"type":"T","id":"urn:x:{a}"},
                         "attributes":{"n":{"column":"n","type":"float"}}})")
                .find("attributes.n.type: 'float' is not one of string, number"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"source":{"format":"csv"},"entity":{"type":"T","id":"urn:x:{a}"},
                         "attributes":{"n":{"column":"n","value":1}}})")
                .find("exactly one of column, template or value"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"source":{"format":"csv"},"entity":{"type":"T","id":"urn:x:{a}"},
                         "attributes":{"n":{"column":"n","scale":2}}})")
                .find("attributes.n.scale"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"source":{"format":"csv"},"entity":{"type":"T","id":"urn:x:{a}"},
                         "location":{"latitude":"lat"}})")
                .find("both latitude and longitude"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"source":{"format":"csv"},"entity":{"type":"T","id":"urn:x:{a}"},
                         "where":{"column":"g","equals":"a","prefix":"b"}})")
                .find("exactly one test"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"source":{"format":"csv","delimiter":";;"},
                         "entity":{"type":"T","id":"urn:x:{a}"}})")
                .find("source.delimiter"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"source":{"format":"csv"},"entity":{"type":"T","id":"urn:x:{a}"},
                         "attributes":{"r":{"kind":"Relationship","value":"not a uri"}}})")
                .find("must be a URI"),
            std::string::npos);
}

TEST(ImportMappingCheck, AColumnMissingFromTheHeaderStopsTheImport) {
  const auto m = must_mapping(kCctv);
  auto r = read_source(m, "gu,addr,lat,lon,n,updated\n강남구,a,37.5,127.0,1,2022-12-01\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().detail.find("the column 'h' named in attributes.height is not in the file"),
            std::string::npos)
      << r.error().detail;
}

// ---- record → entity ---------------------------------------------------------------------

constexpr std::string_view kCctvCsv =
    "gu,addr,lat,lon,n,updated,h\n"
    "강남구, 삼성1-291-02 ,37.5148,127.0559,1,2022.12.01,350\n"
    "도봉구,x,37.6,127.0,1,2022-12-01,1\n"
    "강남구,b,37.5,127.0,two,2022-12-01,1\n"
    "강남구,c,,127.0,1,2022-12-01,1\n"
    "강남구,d/e f,37.5,127.0,\"1,234\",20221201,\n";

TEST(ImportRecord, CsvRowBecomesANormalizedEntity) {
  const auto m = must_mapping(kCctv);
  auto r = read_source(m, kCctvCsv);
  ASSERT_TRUE(r) << r.error().detail;
  ASSERT_EQ(r->records.size(), 5u);
  EXPECT_TRUE(record_selected(m, r->records[0]));
  EXPECT_FALSE(record_selected(m, r->records[1]));
  auto e = map_record(m, r->records[0]);
  ASSERT_TRUE(e) << e.error().detail;
  EXPECT_EQ(json::value(*e), parse_json(R"({
    "id": "urn:ngsi-ld:Camera:삼성1-291-02", "type": "Camera", "scope": "/Seoul/Gangnam",
    "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [127.0559, 37.5148]}},
    "name": {"type": "Property", "value": "삼성1-291-02"},
    "cameraNum": {"type": "Property", "value": 1},
    "dateModified": {"type": "Property", "value": {"@type": "Date", "@value": "2022-12-01"}},
    "height": {"type": "Property", "value": 3.5, "unitCode": "MTR"}})"));
  // The entity is valid NGSI-LD as the API would parse it.
  auto ctx = ldcontext::ContextStore::open("", fs::temp_directory_path() / "cityroom-import-ctx");
  ASSERT_TRUE(ctx);
  EXPECT_TRUE(model::parse_entity(*e, *(*ctx)->core(), {}));
}

TEST(ImportRecord, BadValuesSayWhichAttributeAndValue) {
  const auto m = must_mapping(kCctv);
  auto r = read_source(m, kCctvCsv);
  ASSERT_TRUE(r);
  auto bad_number = map_record(m, r->records[2]);
  ASSERT_FALSE(bad_number);
  EXPECT_EQ(bad_number.error().detail, "cameraNum 'two' is not a number");
  auto no_location = map_record(m, r->records[3]);
  ASSERT_FALSE(no_location);
  EXPECT_NE(no_location.error().detail.find("no location"), std::string::npos);
}

TEST(ImportRecord, IdsArePercentEncodedAndThousandsSeparatorsRead) {
  const auto m = must_mapping(kCctv);
  auto r = read_source(m, kCctvCsv);
  ASSERT_TRUE(r);
  auto e = map_record(m, r->records[4]);
  ASSERT_TRUE(e) << e.error().detail;
  EXPECT_EQ(e->at("id").get_string(), "urn:ngsi-ld:Camera:d%2Fe%20f");
  EXPECT_EQ(e->at("cameraNum").at("value"), json::value(1234));
  EXPECT_EQ(e->at("dateModified").at("value").at("@value"), json::value("2022-12-01"));
  EXPECT_FALSE(e->contains("height"));  // an empty cell is no attribute
}

TEST(ImportRecord, PickSplitRelationshipExtraTypesAndConstants) {
  const auto m = must_mapping(R"({
    "source": {"format": "csv"},
    "entity": {"type": "PointOfInterest", "id": "urn:ngsi-ld:PointOfInterest:{row}",
               "alsoType": [{"type": "SeniorCenter",
                             "where": {"column": "extra", "pick": "경로당", "equals": "Y"}}]},
    "attributes": {
      "capacity": {"column": "extra", "pick": "이용가능인원", "type": "integer"},
      "senior": {"column": "extra", "pick": "경로당", "type": "boolean"},
      "links": {"column": "links", "split": ","},
      "refArea": {"kind": "Relationship", "template": "urn:ngsi-ld:AdministrativeArea:{code}"},
      "category": {"value": ["heatShelter"]}
    }})");
  auto r = read_source(m, "extra,links,code\n\"이용가능인원=30;경로당=Y\",\"1, 2,,3\",1168051000\n"
                          "경로당=N,,1168052100\n");
  ASSERT_TRUE(r) << r.error().detail;
  auto a = map_record(m, r->records[0]);
  ASSERT_TRUE(a) << a.error().detail;
  EXPECT_EQ(a->at("id"), json::value("urn:ngsi-ld:PointOfInterest:1"));
  EXPECT_EQ(a->at("type"), parse_json(R"(["PointOfInterest","SeniorCenter"])"));
  EXPECT_EQ(a->at("capacity").at("value"), json::value(30));
  EXPECT_EQ(a->at("senior").at("value"), json::value(true));
  EXPECT_EQ(a->at("links").at("value"), parse_json(R"(["1","2","3"])"));
  EXPECT_EQ(a->at("refArea"), parse_json(R"({"type":"Relationship",
                                             "object":"urn:ngsi-ld:AdministrativeArea:1168051000"})"));
  EXPECT_EQ(a->at("category").at("value"), parse_json(R"(["heatShelter"])"));
  auto b = map_record(m, r->records[1]);
  ASSERT_TRUE(b) << b.error().detail;
  EXPECT_EQ(b->at("type"), json::value("PointOfInterest"));
  EXPECT_FALSE(b->contains("capacity"));
  EXPECT_FALSE(b->contains("links"));
}

TEST(ImportRecord, GeoJsonFeaturesKeepGeometryAndJsonValues) {
  const auto m = must_mapping(R"({
    "source": {"format": "geojson"},
    "where": {"column": "sgg", "prefix": "116"},
    "entity": {"type": "RoadSegment", "id": "urn:ngsi-ld:RoadSegment:{link}"},
    "attributes": {"speedHourly": {"column": "spd", "type": "json", "unitCode": "KMH"},
                   "length": {"column": "km", "type": "number", "scale": 1000}}})");
  auto r = read_source(m, R"({"type":"FeatureCollection","features":[
      {"type":"Feature","properties":{"link":"8892061","sgg":"11680","spd":[35,36],"km":0.918},
       "geometry":{"type":"LineString","coordinates":[[127.0,37.5],[127.01,37.51]]}},
      {"type":"Feature","properties":{"link":"1","sgg":"11320"},"geometry":null},
      {"type":"Feature","properties":{"link":"2","sgg":"11680"},"geometry":null},
      7]})");
  ASSERT_TRUE(r) << r.error().detail;
  ASSERT_EQ(r->records.size(), 3u);
  ASSERT_EQ(r->errors.size(), 1u);
  EXPECT_EQ(r->errors[0].line, 4u);
  EXPECT_FALSE(record_selected(m, r->records[1]));
  auto e = map_record(m, r->records[0]);
  ASSERT_TRUE(e) << e.error().detail;
  EXPECT_EQ(e->at("location").at("value").at("type"), json::value("LineString"));
  EXPECT_EQ(e->at("speedHourly").at("value"), parse_json("[35,36]"));
  EXPECT_EQ(e->at("length").at("value"), json::value(918));
  auto no_geometry = map_record(m, r->records[2]);
  ASSERT_FALSE(no_geometry);
  EXPECT_EQ(no_geometry.error().detail, "the feature has no geometry");
  auto not_fc = read_source(m, R"({"type":"Feature"})");
  ASSERT_FALSE(not_fc);
  EXPECT_NE(not_fc.error().detail.find("FeatureCollection"), std::string::npos);
}

// ---- a whole import ----------------------------------------------------------------------

// Records what it is given and fails one id on request.
class FakeSink : public ImportSink {
 public:
  base::Result<SinkOutcome> upsert(const ImportMapping&, std::vector<json::object> es) override {
    SinkOutcome out;
    for (std::size_t i = 0; i < es.size(); ++i) {
      ids.emplace_back(es[i].at("id").get_string());
      if (ids.back() == refuse) out.failures.push_back({i, "refused"});
    }
    ++batches;
    return out;
  }
  std::vector<std::string> ids;
  std::string refuse;
  int batches = 0;
};

class ImportRun : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("cityroom-import-test-" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& name, std::string_view text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return dir_ / name;
  }
  fs::path dir_;
};

TEST_F(ImportRun, BadRowsAreReportedWithLinesAndSkipped) {
  auto m = must_mapping(kCctv);
  const auto source = write("cctv.csv", std::string(kCctvCsv) +
                                            "강남구,a,37.5,127.0,1,2022-12-01,1\n"
                                            "강남구,a,37.5,127.0,1,2022-12-01,1\n"
                                            "강남구,z,37.5,127.0\n");
  FakeSink sink;
  sink.refuse = "urn:ngsi-ld:Camera:a";
  auto report = run_import(m, source, &sink);
  ASSERT_TRUE(report) << report.error().detail;
  EXPECT_EQ(report->records, 8u);
  EXPECT_EQ(report->filtered_out, 1u);
  // line 4: 'two'; line 5: no latitude; line 8: duplicate id; line 9: 4 fields; line 7: refused
  EXPECT_EQ(report->bad, 5u);
  EXPECT_EQ(report->imported, 2u);
  std::vector<std::string> shown;
  for (const auto& e : report->errors) shown.push_back(format_row_error(*report, e));
  std::ranges::sort(shown);
  ASSERT_EQ(shown.size(), 5u);  // sorted by line already; sorted again as text here
  EXPECT_EQ(shown[0], "cctv.csv:4: cameraNum 'two' is not a number");
  EXPECT_NE(shown[1].find("cctv.csv:5: no location"), std::string::npos);
  EXPECT_EQ(shown[2], "cctv.csv:7: refused");
  EXPECT_NE(shown[3].find("cctv.csv:8: the id urn:ngsi-ld:Camera:a was already made from line 7"),
            std::string::npos);
  EXPECT_EQ(shown[4], "cctv.csv:9: has 4 fields, the header 7");
}

TEST_F(ImportRun, ImportIntoAHubTwiceUpdatesAndNeverDuplicates) {
  auto m = must_mapping(R"({
    "source": {"format": "csv", "encoding": "CP949"},
    "entity": {"type": "Camera", "id": "urn:ngsi-ld:Camera:{id}"},
    "location": {"latitude": "lat", "longitude": "lon"},
    "attributes": {"name": {"column": "name"}}})");
  std::string csv = "id,name,lat,lon\r\n";
  // 2,500 rows: three batches of at most kImportBatchEntitiesMax.
  for (int i = 0; i < 2500; ++i) {
    csv += std::to_string(i) + ",\xB0\xAD\xB3\xB2," + std::to_string(37.4 + i * 1e-5) + ",127.05\r\n";
  }
  const auto source = write("cams.csv", csv);
  auto store = store::open_sqlite({.data_dir = dir_ / "db"});
  ASSERT_TRUE(store) << store.error().detail;
  auto contexts = ldcontext::ContextStore::open("", dir_ / "contexts");
  ASSERT_TRUE(contexts);
  hub::Hub hub(**store);
  auto sink = make_hub_sink(hub, **contexts);
  auto first = run_import(m, source, sink.get());
  ASSERT_TRUE(first) << first.error().detail;
  EXPECT_EQ(first->imported, 2500u);
  EXPECT_EQ(first->created, 2500u);
  EXPECT_EQ(first->bad, 0u);
  auto again = run_import(m, source, sink.get());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->imported, 2500u);
  EXPECT_EQ(again->created, 0u);
  auto e = hub.get("", "urn:ngsi-ld:Camera:7");
  ASSERT_TRUE(e && *e);
  const auto name_iri = std::string("https://uri.etsi.org/ngsi-ld/default-context/name");
  EXPECT_EQ((**e).at(name_iri).at(0).at("value"), json::value("강남"));
  (*store)->close();
}

}  // namespace
}  // namespace cityroom::ingest
