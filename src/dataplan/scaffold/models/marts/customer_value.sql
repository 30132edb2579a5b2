select
    customer_id,
    orders,
    -- the contract's type, on every engine: a sum of decimals is decimal(38, 2) on DuckDB but an
    -- unconstrained numeric on Postgres
    cast(paid_amount as decimal(38, 2)) as paid_amount,
    cast(first_ordered_at as date) as first_order_date
from intermediate.int_customer_orders
