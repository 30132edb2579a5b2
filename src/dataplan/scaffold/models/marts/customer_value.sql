select
    customer_id,
    orders,
    paid_amount,
    cast(first_ordered_at as date) as first_order_date
from intermediate.int_customer_orders
