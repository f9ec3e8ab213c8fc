# store_bench: the store's write path against raw SQLite, get by id, indexed queries.
add_executable(store_bench ${CMAKE_CURRENT_LIST_DIR}/store_bench.cpp)
target_link_libraries(store_bench PRIVATE cityroom_store benchmark::benchmark)
