# history_bench: history append through the store vs raw SQLite, an hourly aggregation over a
# year of minute data, lastN=1 over 10,000 entities, bytes per point (docs/PERFORMANCE.md).
add_executable(history_bench ${CMAKE_CURRENT_LIST_DIR}/history_bench.cpp)
target_link_libraries(history_bench PRIVATE cityroom_history cityroom_store)
