-- Billing customers whose CRM reference matches no account are expected
-- (about 2%: never linked, or pointing at a merged account). More than 5%
-- means the CRM sync or the join key broke.
select
    count(*) as customers,
    count(case when not is_crm_matched then 1 end) as unmatched
from intermediate.int_customer_spine
having count(case when not is_crm_matched then 1 end) > 0.05 * count(*)
