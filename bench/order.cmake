# order_bench: orderBy one numeric attribute, the value-index walk against the full pass.
add_executable(order_bench ${CMAKE_CURRENT_LIST_DIR}/order_bench.cpp)
target_link_libraries(order_bench PRIVATE cityroom_store benchmark::benchmark)
