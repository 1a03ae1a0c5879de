SELECT c.name, sum(o.total) AS revenue FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name ORDER BY revenue DESC LIMIT 10
SELECT date_trunc('month', o.created_at) AS month, count(*) FROM orders o GROUP BY 1 ORDER BY 1
SELECT id, total, rank() OVER (PARTITION BY customer_id ORDER BY total DESC) AS r FROM orders
SELECT id, lag(total) OVER w, lead(total, 1, 0) OVER w FROM orders WINDOW w AS (ORDER BY created_at)
SELECT customer_id, sum(total) FILTER (WHERE total > 10) FROM orders GROUP BY customer_id
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY total) FROM orders
SELECT string_agg(name, ', ' ORDER BY name) FROM customers
SELECT EXTRACT(YEAR FROM created_at) AS y, EXTRACT(dow FROM created_at) FROM orders
SELECT now() - interval '30 days', current_date - 7, age(now(), created_at) FROM orders
SELECT to_char(created_at, 'YYYY-MM'), created_at::date FROM orders
SELECT CASE WHEN total > 100 THEN 'big' WHEN total > 10 THEN 'mid' ELSE 'small' END FROM orders
SELECT COALESCE(email, 'n/a'), NULLIF(country, ''), GREATEST(1, 2), LEAST(3, 4) FROM customers
SELECT upper(name), lower(country), length(name), substring(name from 1 for 3), trim(both ' ' from name), position('a' in name) FROM customers
SELECT left(name, 2), right(name, 2), split_part(email, '@', 2), replace(name, 'a', 'b'), concat(name, '-', country), name || '!' FROM customers
SELECT CAST(total AS numeric(10, 2)), total::int, CAST(id AS text), round(total::numeric, 2) FROM orders
SELECT data->>'sku', data->'tags', jsonb_array_length(data->'tags'), data #>> '{a,b}' FROM orders
SELECT jsonb_build_object('id', id, 'total', total), json_agg(id) OVER () FROM orders
SELECT * FROM jsonb_each('{"a":1}'::jsonb) AS j(k, v)
SELECT * FROM json_to_recordset('[{"a":1}]') AS x(a int)
SELECT g::date FROM generate_series('2024-01-01'::timestamp, '2024-02-01', '1 day') AS g
WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 10) SELECT n FROM t
WITH monthly AS (SELECT date_trunc('month', created_at) m, sum(total) s FROM orders GROUP BY 1) SELECT m, s, s - lag(s) OVER (ORDER BY m) FROM monthly
SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema()
SELECT c.relname, obj_description(c.oid, 'pg_class'), col_description(c.oid, 1), pg_get_viewdef(c.oid), format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
SELECT has_table_privilege('customers', 'SELECT'), pg_size_pretty(pg_total_relation_size('orders')), to_regclass('public.orders')
SELECT DISTINCT ON (customer_id) customer_id, total FROM orders ORDER BY customer_id, created_at DESC
SELECT customer_id, count(*) FROM orders GROUP BY ROLLUP (customer_id)
SELECT customer_id, count(*) FROM orders GROUP BY GROUPING SETS ((customer_id), ())
SELECT * FROM orders o WHERE EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer_id) AND o.id = ANY(ARRAY[1, 2, 3])
SELECT * FROM orders o, LATERAL (SELECT count(*) FROM orders x WHERE x.customer_id = o.customer_id) AS l(n)
SELECT array_agg(DISTINCT country), array_to_string(array_agg(name), ',') FROM customers
SELECT regexp_replace(name, '\s+', ' ', 'g'), name ~* 'ab', name ILIKE 'a%', name SIMILAR TO '(a|b)%' FROM customers
SELECT width_bucket(total, 0, 100, 10), ntile(4) OVER (ORDER BY total), percent_rank() OVER (ORDER BY total) FROM orders
SELECT date_part('epoch', created_at), make_date(2024, 1, 1), justify_interval(interval '40 days'), created_at AT TIME ZONE 'UTC' FROM orders
SELECT to_timestamp(0), to_date('2024-01-01', 'YYYY-MM-DD'), to_number('12.5', '99.9')
SELECT count(*) FILTER (WHERE country = 'DE') * 100.0 / NULLIF(count(*), 0) FROM customers
SELECT stddev(total), variance(total), corr(total, id), mode() WITHIN GROUP (ORDER BY country) FROM orders, customers
SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(id, label)
SELECT id FROM orders ORDER BY total DESC NULLS LAST FETCH FIRST 5 ROWS ONLY
SELECT ts.x FROM unnest(ARRAY[1,2]) WITH ORDINALITY AS ts(x, n)
SELECT "Name", "orders"."total" FROM "orders"
SELECT md5(email), encode(sha256(email::bytea), 'hex'), gen_random_uuid() FROM customers
SELECT current_database(), current_user, version(), pg_backend_pid()
SELECT x FROM orders TABLESAMPLE BERNOULLI (10) REPEATABLE (42)
SELECT date_bin('15 minutes', created_at, '2000-01-01'), isfinite(created_at) FROM orders
SELECT tsrange(created_at, created_at + interval '1 hour') FROM orders
SELECT json_object_agg(id, total), jsonb_pretty(jsonb_agg(total)), to_jsonb(o) FROM orders o
SELECT id FROM orders WHERE created_at BETWEEN now() - '7 days'::interval AND now() AND total IS NOT NULL
SELECT pg_catalog.lower(name), pg_catalog.count(*) OVER () FROM customers
SELECT array(SELECT id FROM orders), row(1, 2)
SELECT quote_ident(name), format('%s-%s', id, name), initcap(name), lpad(id::text, 5, '0') FROM customers
SELECT customer_id, count(*) FROM orders GROUP BY (customer_id) ORDER BY (count(*)) DESC
SELECT sum(total) OVER (PARTITION BY (customer_id) ORDER BY (id)) FROM orders UNION ALL (SELECT 1)
