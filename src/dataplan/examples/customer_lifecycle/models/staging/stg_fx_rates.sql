-- Rates to USD for the billing currencies. Fixed on purpose: the demo's
-- figures must not move with the calendar.
select
    cast(currency as varchar) as currency,
    cast(usd_rate as decimal(10, 4)) as usd_rate
from (
    values
        ('USD', 1.0),
        ('EUR', 1.08),
        ('GBP', 1.27)
) as rates (currency, usd_rate)
