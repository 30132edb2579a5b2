-- One row per order, typed.
select
    cast(order_id as bigint) as order_id,
    customer_id,
    lower(status) as status,
    cast(amount as decimal(12, 2)) as amount,
    cast(ordered_at as timestamp) as ordered_at
from shop.orders
