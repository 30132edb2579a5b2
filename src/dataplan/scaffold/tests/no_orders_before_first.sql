-- A customer's first order date is never after any of their orders.
select o.order_id
from staging.stg_orders o
join marts.customer_value v using (customer_id)
where cast(o.ordered_at as date) < v.first_order_date
