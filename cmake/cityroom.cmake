# cityroom_module(NAME SOURCES... DEPS ...): one static library per src/ folder.
function(cityroom_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
  add_library(cityroom_${name} STATIC ${M_SOURCES})
  target_link_libraries(cityroom_${name} PUBLIC ${M_DEPS})
endfunction()

# cityroom_test(NAME SOURCES... DEPS ...): a GoogleTest binary registered with ctest.
function(cityroom_test name)
  cmake_parse_arguments(T "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_DEPS} GTest::gtest GTest::gtest_main)
  include(GoogleTest)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
                       PROPERTIES ENVIRONMENT "CITYROOM_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()
