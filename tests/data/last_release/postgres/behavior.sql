--
-- PostgreSQL database dump
--


-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: tactful_create_day(text, bigint); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.tactful_create_day(purpose text, day bigint) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO '$user', 'public'
    AS $$
DECLARE
    parent text := tactful_events_table(purpose);
    child text := parent || '_d' || day;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_class WHERE relname = parent
                   AND relnamespace = current_schema()::regnamespace) THEN
        EXECUTE format('CREATE TABLE %I (LIKE events INCLUDING DEFAULTS)'
                       ' PARTITION BY RANGE (occurred_at_us)', parent);
        EXECUTE format('ALTER TABLE events ATTACH PARTITION %I FOR VALUES IN (%L)',
                       parent, purpose);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_class WHERE relname = child
                   AND relnamespace = current_schema()::regnamespace) THEN
        EXECUTE format('CREATE TABLE %I (LIKE events INCLUDING DEFAULTS)', child);
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)',
                       parent, child, day * 86400000000, (day + 1) * 86400000000);
    END IF;
END $$;


--
-- Name: tactful_drop_day(text, bigint); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.tactful_drop_day(purpose text, day bigint) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO '$user', 'public'
    AS $$
BEGIN
    EXECUTE format('DROP TABLE IF EXISTS %I', tactful_events_table(purpose) || '_d' || day);
END $$;


--
-- Name: tactful_events_table(text); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.tactful_events_table(purpose text) RETURNS text
    LANGUAGE sql IMMUTABLE
    RETURN ('events_'::text || "left"(encode(sha256(convert_to(purpose, 'UTF8'::name)), 'hex'::text), 12));


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: access_log_chains; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.access_log_chains (
    chain_id text NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: access_log_epochs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.access_log_epochs (
    epoch bigint NOT NULL,
    line text NOT NULL
);


--
-- Name: access_log_heads; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.access_log_heads (
    chain_id text NOT NULL,
    sequence bigint NOT NULL,
    record_hash text NOT NULL
);


--
-- Name: access_log_leases; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.access_log_leases (
    chain_id text NOT NULL,
    renewed_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    closed boolean DEFAULT false NOT NULL
);


--
-- Name: access_log_records; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.access_log_records (
    sequence bigint NOT NULL,
    chain_id text NOT NULL,
    content text NOT NULL,
    previous_hash text NOT NULL,
    record_hash text NOT NULL,
    time_us bigint GENERATED ALWAYS AS ((((content)::json ->> 1))::bigint) STORED,
    principal text GENERATED ALWAYS AS (((content)::json ->> 2)) STORED,
    method text GENERATED ALWAYS AS (((content)::json ->> 4)) STORED,
    purpose text GENERATED ALWAYS AS (((content)::json ->> 5)) STORED,
    subject text GENERATED ALWAYS AS (((content)::json ->> 6)) STORED,
    decision text GENERATED ALWAYS AS (((content)::json ->> 9)) STORED,
    mac text DEFAULT ''::text NOT NULL
);


--
-- Name: access_log_sequence; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.access_log_sequence
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: access_log_subjects; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.access_log_subjects (
    subject text NOT NULL,
    sequence bigint NOT NULL
);


--
-- Name: budget_debits; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.budget_debits (
    id bigint NOT NULL,
    principal text NOT NULL,
    purpose text NOT NULL,
    epsilon double precision NOT NULL,
    debited_at_us bigint NOT NULL
);


--
-- Name: budget_debits_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.budget_debits ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.budget_debits_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: budget_pending_records; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.budget_pending_records (
    time_us bigint NOT NULL,
    request_id text NOT NULL,
    entry text NOT NULL,
    claimed_until_us bigint DEFAULT 0 NOT NULL
);


--
-- Name: consent; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.consent (
    pseudonym text NOT NULL,
    purpose text NOT NULL,
    granted boolean NOT NULL,
    updated_at_us bigint NOT NULL
);


--
-- Name: consent_history; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.consent_history (
    id bigint NOT NULL,
    pseudonym text NOT NULL,
    purpose text NOT NULL,
    granted boolean NOT NULL,
    source text NOT NULL,
    recorded_at_us bigint NOT NULL
);


--
-- Name: consent_history_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.consent_history ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.consent_history_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: events_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.events (
    id bigint DEFAULT nextval('public.events_id_seq'::regclass) NOT NULL,
    subject_id bigint NOT NULL,
    purpose text NOT NULL,
    type text NOT NULL,
    occurred_at_us bigint NOT NULL,
    received_at_us bigint NOT NULL,
    attributes jsonb
)
PARTITION BY LIST (purpose);


--
-- Name: events_bf5cf59e3566; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.events_bf5cf59e3566 (
    id bigint DEFAULT nextval('public.events_id_seq'::regclass) NOT NULL,
    subject_id bigint NOT NULL,
    purpose text NOT NULL,
    type text NOT NULL,
    occurred_at_us bigint NOT NULL,
    received_at_us bigint NOT NULL,
    attributes jsonb
)
PARTITION BY RANGE (occurred_at_us);


--
-- Name: events_bf5cf59e3566_d20794; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.events_bf5cf59e3566_d20794 (
    id bigint DEFAULT nextval('public.events_id_seq'::regclass) NOT NULL,
    subject_id bigint NOT NULL,
    purpose text NOT NULL,
    type text NOT NULL,
    occurred_at_us bigint NOT NULL,
    received_at_us bigint NOT NULL,
    attributes jsonb
);


--
-- Name: issued_tokens; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.issued_tokens (
    seq bigint NOT NULL,
    id text NOT NULL,
    principal text NOT NULL,
    sha256 text NOT NULL,
    issued_at text NOT NULL,
    revoked_at text,
    expires_at text,
    development boolean DEFAULT false NOT NULL
);


--
-- Name: issued_tokens_seq_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.issued_tokens ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.issued_tokens_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: issued_tokens_version; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.issued_tokens_version (
    id integer NOT NULL,
    counter bigint NOT NULL,
    CONSTRAINT issued_tokens_version_id_check CHECK ((id = 1))
);


--
-- Name: pending_erasures; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.pending_erasures (
    ticket bigint NOT NULL,
    pseudonyms text[] NOT NULL,
    begun_at_us bigint NOT NULL
);


--
-- Name: pending_erasures_ticket_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.pending_erasures_ticket_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: pending_erasures_ticket_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.pending_erasures_ticket_seq OWNED BY public.pending_erasures.ticket;


--
-- Name: pending_records; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.pending_records (
    time_us bigint NOT NULL,
    request_id text NOT NULL,
    entry text NOT NULL,
    claimed_until_us bigint DEFAULT 0 NOT NULL
);


--
-- Name: purpose_activity; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.purpose_activity (
    subject_id bigint NOT NULL,
    purpose text NOT NULL,
    first_seen_us bigint NOT NULL,
    last_seen_us bigint NOT NULL,
    event_count bigint NOT NULL
);


--
-- Name: signal_counts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.signal_counts (
    subject_id bigint NOT NULL,
    purpose text NOT NULL,
    type text NOT NULL,
    hour bigint NOT NULL,
    n bigint NOT NULL
);


--
-- Name: signal_distinct; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.signal_distinct (
    subject_id bigint NOT NULL,
    purpose text NOT NULL,
    type text NOT NULL,
    attribute text NOT NULL,
    value jsonb NOT NULL,
    last_at_us bigint NOT NULL
);


--
-- Name: signal_last; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.signal_last (
    subject_id bigint NOT NULL,
    purpose text NOT NULL,
    type text NOT NULL,
    attribute text NOT NULL,
    value jsonb,
    at_us bigint NOT NULL
);


--
-- Name: signal_tracking; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.signal_tracking (
    kind text NOT NULL,
    type text NOT NULL,
    attribute text NOT NULL
);


--
-- Name: subjects; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.subjects (
    id bigint NOT NULL,
    pseudonym text NOT NULL
);


--
-- Name: subjects_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.subjects ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.subjects_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: suppressed; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.suppressed (
    pseudonym text NOT NULL,
    recorded_at_us bigint
);


--
-- Name: suppression_tombstones; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.suppression_tombstones (
    tombstone text NOT NULL,
    recorded_at_us bigint NOT NULL
);


--
-- Name: tactful_schema; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tactful_schema (
    store text NOT NULL,
    version integer NOT NULL,
    migrated_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: events_bf5cf59e3566; Type: TABLE ATTACH; Schema: public; Owner: -
--

ALTER TABLE ONLY public.events ATTACH PARTITION public.events_bf5cf59e3566 FOR VALUES IN ('membership');


--
-- Name: events_bf5cf59e3566_d20794; Type: TABLE ATTACH; Schema: public; Owner: -
--

ALTER TABLE ONLY public.events_bf5cf59e3566 ATTACH PARTITION public.events_bf5cf59e3566_d20794 FOR VALUES FROM ('1796601600000000') TO ('1796688000000000');


--
-- Name: pending_erasures ticket; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.pending_erasures ALTER COLUMN ticket SET DEFAULT nextval('public.pending_erasures_ticket_seq'::regclass);


--
-- Data for Name: access_log_chains; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.access_log_chains VALUES ('0396e7ee0ddc47dba6ee9b4dd07b24d8', 'vm', 15860, '2026-12-07 11:52:12.819599+00');
INSERT INTO public.access_log_chains VALUES ('dc770cf487854324b3e3b0cd9749a78d', 'vm', 15886, '2026-12-07 11:52:14.094717+00');
INSERT INTO public.access_log_chains VALUES ('e6d9f966eaad438a90b91a8862100aa3', 'vm', 15981, '2026-12-07 11:52:15.31986+00');
INSERT INTO public.access_log_chains VALUES ('31d4edd7deef4ac8893b1e9873367406', 'vm', 16107, '2026-12-07 11:52:16.855722+00');


--
-- Data for Name: access_log_epochs; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.access_log_epochs VALUES (1, '{"epoch": 1, "heads": [["0396e7ee0ddc47dba6ee9b4dd07b24d8", 1, "84dfa68627d37c29601ab7ff195944762ed83071eb3b6424f9ca77d4f9464355"]], "key_version": 1, "kind": "epoch", "previous": "", "published_at": "vm:/tmp/lr-pg/data/access-log.checkpoints", "record_hash": "a8051cda99e3f9973f9f316432c8afb7c8d608f4c3dc60dc26a34628ab0af3de", "root": "bc8c61304a28e0e12b335e879e9a5d242728a6a2cc818e7d0de38ce965035c8b", "sequence": 1, "signature": "bdf4bd03b931b6045c35ffae4a2b5813c26c08ab8a2fa6da113ee0911ca7d9657b6c8978e9bef9ad5b4648683a4a8b56c02f27bbe2678bfe5ad005a86e9f0301", "starts": [], "time_us": 1796644332561386}');
INSERT INTO public.access_log_epochs VALUES (2, '{"epoch": 2, "heads": [["0396e7ee0ddc47dba6ee9b4dd07b24d8", 2, "63fd743d83eaa98145f05ed4c751bae35e15e3073490da907f5c6653340ddf49"], ["dc770cf487854324b3e3b0cd9749a78d", 3, "8faa409d60a189a905f221185495634ac7fdd98d49f52e0023ad85ace06322bc"]], "key_version": 1, "kind": "epoch", "previous": "a8051cda99e3f9973f9f316432c8afb7c8d608f4c3dc60dc26a34628ab0af3de", "published_at": "vm:/tmp/lr-pg/data/access-log.checkpoints", "record_hash": "9e3cd14cb3746d56190a7cd16d398063ebb599766fcb9525c886d471a7f4a8a5", "root": "b23d82870a8dac32b5622393a3244640a8727fc02d235f7d32156eab0d1bcfc8", "sequence": 3, "signature": "dc3f17b3b920e9d4d21f69ffdd3bf80f96933443bfd8b29f145e5e23036ca6b3190579c5e42a2867d88f8d5657d6c8c7d6719a491667ac0118c8bb3b5b795c00", "starts": [], "time_us": 1796644334053126}');
INSERT INTO public.access_log_epochs VALUES (3, '{"epoch": 3, "heads": [["dc770cf487854324b3e3b0cd9749a78d", 4, "6b82d1fa604bd790db9f6abe1cfabd096839236be2ea122b091da15b8e76d664"], ["e6d9f966eaad438a90b91a8862100aa3", 7, "787b55546b0f06cd9390f273c37fec51838c9936eb281d9feb294feec3d273eb"]], "key_version": 1, "kind": "epoch", "previous": "9e3cd14cb3746d56190a7cd16d398063ebb599766fcb9525c886d471a7f4a8a5", "published_at": "vm:/tmp/lr-pg/data/access-log.checkpoints", "record_hash": "ad4474f8796b662f1d3618744ba52f02167f4e8470d3895dadc0fc7ad8eaf023", "root": "9ad2fccb024e6e6317ed22b000703558bc6efc8828eb69bb14f6481a89810684", "sequence": 7, "signature": "ce987cb2ca4d760953c86f40393342c2a532de6fe05d2ac722efef684f9129593f8d33e9b10a6a10d998653c550beae0d5a2b070758e4a78df10c0d0c0fea309", "starts": [], "time_us": 1796644335405630}');
INSERT INTO public.access_log_epochs VALUES (4, '{"epoch": 4, "heads": [["e6d9f966eaad438a90b91a8862100aa3", 9, "c8120b6e29c70bd6d6ffe7338459886602c684608b2e7c0875e7930ef76f2c9f"]], "key_version": 1, "kind": "epoch", "previous": "ad4474f8796b662f1d3618744ba52f02167f4e8470d3895dadc0fc7ad8eaf023", "published_at": "vm:/tmp/lr-pg/data/access-log.checkpoints", "record_hash": "7bbb2ec3a55bcae00e467a02c33fd595cfe736b5b08c11b148da0c682ecc7885", "root": "faeae66b41107381a512416028100f1d66b078e42420cd1622a85f2caf4b7b50", "sequence": 9, "signature": "e66859e76f8e7ed0bd367e7142c62192f6652540fbc6778e9b8b920e24276c8e69fee367088f132bea6ac58db576ff60af37a99d18dce3492d71a65644f14902", "starts": [], "time_us": 1796644335442342}');
INSERT INTO public.access_log_epochs VALUES (5, '{"epoch": 5, "heads": [["31d4edd7deef4ac8893b1e9873367406", 10, "fcebd07eb260a849aba13127532f8270ab598b34e2fa1fb653952a99f1e24c6b"]], "key_version": 1, "kind": "epoch", "previous": "7bbb2ec3a55bcae00e467a02c33fd595cfe736b5b08c11b148da0c682ecc7885", "published_at": "vm:/tmp/lr-pg/data/access-log.checkpoints", "record_hash": "9f938bb6a06aee279b148cf23a2f60de909cf72ee068a8b3339376ea484b4e0f", "root": "e6b7d96e74f6ebf7254db6770d33ab071e7d08302d973ee7849ad130203696e5", "sequence": 10, "signature": "e85b8afbea8571d2822ac3c65129cbe308b8000cfe34df81a352c3d5c9cd17d8a26c1cb6abcbc26d01716284e6bc91a861870e0646a66138db1f9df7f11a700d", "starts": [], "time_us": 1796644336833641}');


--
-- Data for Name: access_log_heads; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.access_log_heads VALUES ('0396e7ee0ddc47dba6ee9b4dd07b24d8', 2, '63fd743d83eaa98145f05ed4c751bae35e15e3073490da907f5c6653340ddf49');
INSERT INTO public.access_log_heads VALUES ('dc770cf487854324b3e3b0cd9749a78d', 4, '6b82d1fa604bd790db9f6abe1cfabd096839236be2ea122b091da15b8e76d664');
INSERT INTO public.access_log_heads VALUES ('e6d9f966eaad438a90b91a8862100aa3', 9, 'c8120b6e29c70bd6d6ffe7338459886602c684608b2e7c0875e7930ef76f2c9f');
INSERT INTO public.access_log_heads VALUES ('31d4edd7deef4ac8893b1e9873367406', 10, 'fcebd07eb260a849aba13127532f8270ab598b34e2fa1fb653952a99f1e24c6b');


--
-- Data for Name: access_log_leases; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.access_log_leases VALUES ('0396e7ee0ddc47dba6ee9b4dd07b24d8', '2026-12-07 11:52:12.829955+00', true);
INSERT INTO public.access_log_leases VALUES ('dc770cf487854324b3e3b0cd9749a78d', '2026-12-07 11:52:14.096142+00', true);
INSERT INTO public.access_log_leases VALUES ('e6d9f966eaad438a90b91a8862100aa3', '2026-12-07 11:52:15.425272+00', true);
INSERT INTO public.access_log_leases VALUES ('31d4edd7deef4ac8893b1e9873367406', '2026-12-07 11:52:16.859136+00', true);


--
-- Data for Name: access_log_records; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.access_log_records VALUES (1, '0396e7ee0ddc47dba6ee9b4dd07b24d8', '[1,1796644332561386,"cli:root","admin","tactful.cli/keys.init","","",[],[],"allowed","OK","{\"keyring\": \"/tmp/lr-pg/data/keyring.json\"}","8d2c67d428fd415da65092a46a67a4bd",0,"generated","","",[],"hmac-sha256:v1"]', 'ff835032d523618944551f580da1100577e74aa83d6afbf4a15f05ecbac3378f', '84dfa68627d37c29601ab7ff195944762ed83071eb3b6424f9ca77d4f9464355', DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, '13ddc596a4416d8fecb3f29f09b2d8ee1db485e460d9cfed6839c3ecee152fc3');
INSERT INTO public.access_log_records VALUES (2, '0396e7ee0ddc47dba6ee9b4dd07b24d8', '[2,1796644332873174,"tactful","","tactful.access_log/CloseChain","","",[],[],"allowed","OK","its process stopped","",0,"generated","","",[],"hmac-sha256:v1"]', '84dfa68627d37c29601ab7ff195944762ed83071eb3b6424f9ca77d4f9464355', '63fd743d83eaa98145f05ed4c751bae35e15e3073490da907f5c6653340ddf49', DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, '36c4d194835173e632a9b6a4358bc56384f8b20ad5d51997de4f4ee99b99c96a');
INSERT INTO public.access_log_records VALUES (3, 'dc770cf487854324b3e3b0cd9749a78d', '[3,1796644334053126,"cli:root","admin","tactful.cli/tokens.issue","","",[],[],"allowed","OK","{\"expires_at\": null, \"for\": \"web_frontend\", \"token\": \"tok_1fbf7400\"}","8a8a2cc1f21c4991bf371ad5d0115b7d",0,"generated","","",[],"hmac-sha256:v1"]', 'efdddf5f8e8d0f997dd440612ee44e089ba6c50ecb854e6dd1a2ad9dc40e4c33', '8faa409d60a189a905f221185495634ac7fdd98d49f52e0023ad85ace06322bc', DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, 'c66314fa1c51b92f4a58c74a2874343928da2baa368b6706cb54aa2032eed20a');
INSERT INTO public.access_log_records VALUES (4, 'dc770cf487854324b3e3b0cd9749a78d', '[4,1796644334107383,"tactful","","tactful.access_log/CloseChain","","",[],[],"allowed","OK","its process stopped","",0,"generated","","",[],"hmac-sha256:v1"]', '8faa409d60a189a905f221185495634ac7fdd98d49f52e0023ad85ace06322bc', '6b82d1fa604bd790db9f6abe1cfabd096839236be2ea122b091da15b8e76d664', DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, '3ce4a6b51fa587c394ec2d1b2cb74bebaeb8c141b62fdf838f75e6ced39e2aa5');
INSERT INTO public.access_log_records VALUES (5, 'e6d9f966eaad438a90b91a8862100aa3', '[5,1796644335313712,"web_frontend","frontend","tactful.v1.Personalization/SetConsent","membership","hmac-sha256:v1:de6ad9ee364fbc70b26e858ee0292ca8369d06eb46a5257dc7f70ed194a8f3ab",[],[],"allowed","OK","purpose membership allows set_consent","b548c2440b1c4e0bb73a9bb8c9b5c510",4418,"caller","token","",[],"hmac-sha256:v1"]', '2fc4fb4dc5c1fe3319e766adb927c6b1da1f44fa30db02dddc2f0fe4edce46c7', '3dda1fdf11734a3802a66e16627e0f07f2af9c5c517bfb88eacaa1a9f1bbb110', DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, '1fff698c67aa907ccdbc92c4901d133ea964acc08713e2131a2281be29e51010');
INSERT INTO public.access_log_records VALUES (6, 'e6d9f966eaad438a90b91a8862100aa3', '[6,1796644335326168,"web_frontend","frontend","tactful.v1.Personalization/SetConsent","membership","hmac-sha256:v1:32a26ac35ff7a8e109b03d7b58cd763997e7a3773b6877c38dd14548fd9b1fd6",[],[],"allowed","OK","purpose membership allows set_consent","17a9630f807b4685a6c3d59a6d41b5c8",5785,"caller","token","",[],"hmac-sha256:v1"]', '3dda1fdf11734a3802a66e16627e0f07f2af9c5c517bfb88eacaa1a9f1bbb110', 'deb6ff5b37a2bcb2dcaab7ba4df8b227c364cdd111a73d44d7d67217664db8d9', DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, 'dbffd12eb8d9d7285bf67535013861207517b15c9e6bda2a1a5bcf6132c1f89a');
INSERT INTO public.access_log_records VALUES (7, 'e6d9f966eaad438a90b91a8862100aa3', '[7,1796644335340980,"web_frontend","frontend","tactful.v1.Personalization/RecordEvents","membership","hmac-sha256:v1:32a26ac35ff7a8e109b03d7b58cd763997e7a3773b6877c38dd14548fd9b1fd6",[],[],"allowed","OK","purpose membership allows collect","5228ff4f613f419da4574aed55ed97c6",64552,"caller","token","",["hmac-sha256:v1:de6ad9ee364fbc70b26e858ee0292ca8369d06eb46a5257dc7f70ed194a8f3ab"],"hmac-sha256:v1"]', 'deb6ff5b37a2bcb2dcaab7ba4df8b227c364cdd111a73d44d7d67217664db8d9', '787b55546b0f06cd9390f273c37fec51838c9936eb281d9feb294feec3d273eb', DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, '50740586d3dbf14e01690a05adda742026f44f81e7c1b4a0c0ddc379c1e03a89');
INSERT INTO public.access_log_records VALUES (8, 'e6d9f966eaad438a90b91a8862100aa3', '[8,1796644335418698,"web_frontend","frontend","tactful.v1.Personalization/GetSegments","membership","hmac-sha256:v1:de6ad9ee364fbc70b26e858ee0292ca8369d06eb46a5257dc7f70ed194a8f3ab",[],["trial_member"],"allowed","OK","purpose membership releases these segments","b7f67d022cfd40ee80bb0a7036afd7c1",2393,"caller","token","",[],"hmac-sha256:v1"]', '787b55546b0f06cd9390f273c37fec51838c9936eb281d9feb294feec3d273eb', 'af6e9866682bcfd38b921e78bd33e70866cd073b6d120689d56f23a0582110a7', DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, 'fb200f54607a8b82dc09241c6ab2b1fa0b8fc0c82252b987768a28080bba20c6');
INSERT INTO public.access_log_records VALUES (9, 'e6d9f966eaad438a90b91a8862100aa3', '[9,1796644335436206,"tactful","","tactful.access_log/CloseChain","","",[],[],"allowed","OK","its process stopped","",0,"generated","","",[],"hmac-sha256:v1"]', 'af6e9866682bcfd38b921e78bd33e70866cd073b6d120689d56f23a0582110a7', 'c8120b6e29c70bd6d6ffe7338459886602c684608b2e7c0875e7930ef76f2c9f', DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, 'a90ede5bf0e06d8501576a33d0819f9c4fa59e06523bdcd22dfd4aa5dfac4c39');
INSERT INTO public.access_log_records VALUES (10, '31d4edd7deef4ac8893b1e9873367406', '[10,1796644336833641,"cli:root","privacy_ops","tactful.cli/subjects.export","","hmac-sha256:v1:de6ad9ee364fbc70b26e858ee0292ca8369d06eb46a5257dc7f70ed194a8f3ab",[],[],"allowed","OK","export","45b0b7db65b6440ba222dd7b55089c77",0,"generated","","",[],"hmac-sha256:v1"]', '7ad8dcd0ae33f41c7e244e8a2b9cef05dcb07c96578419e3bd60c40d34898899', 'fcebd07eb260a849aba13127532f8270ab598b34e2fa1fb653952a99f1e24c6b', DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, '039049245a151f300d57f4d00c300ed3bc5daa229fc4bd685723f952758d3273');
INSERT INTO public.access_log_records VALUES (11, '31d4edd7deef4ac8893b1e9873367406', '[11,1796644336898046,"tactful","","tactful.access_log/CloseChain","","",[],[],"allowed","OK","its process stopped","",0,"generated","","",[],"hmac-sha256:v1"]', 'fcebd07eb260a849aba13127532f8270ab598b34e2fa1fb653952a99f1e24c6b', 'ec3cbc0002f6e9ccc590168aa0c94a5c1e03df94201722e3f0c8e2f66cb963b9', DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, '3ecc3254ff9904b19068d499dfd744525a2993db96046dbe7a148fe3958e3aab');


--
-- Data for Name: access_log_subjects; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.access_log_subjects VALUES ('hmac-sha256:v1:de6ad9ee364fbc70b26e858ee0292ca8369d06eb46a5257dc7f70ed194a8f3ab', 7);


--
-- Data for Name: budget_debits; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: budget_pending_records; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: consent; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.consent VALUES ('hmac-sha256:v1:de6ad9ee364fbc70b26e858ee0292ca8369d06eb46a5257dc7f70ed194a8f3ab', 'membership', true, 1796644335313957);
INSERT INTO public.consent VALUES ('hmac-sha256:v1:32a26ac35ff7a8e109b03d7b58cd763997e7a3773b6877c38dd14548fd9b1fd6', 'membership', true, 1796644335328896);


--
-- Data for Name: consent_history; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.consent_history VALUES (1, 'hmac-sha256:v1:de6ad9ee364fbc70b26e858ee0292ca8369d06eb46a5257dc7f70ed194a8f3ab', 'membership', true, 'tests/last_release', 1796644335313957);
INSERT INTO public.consent_history VALUES (2, 'hmac-sha256:v1:32a26ac35ff7a8e109b03d7b58cd763997e7a3773b6877c38dd14548fd9b1fd6', 'membership', true, 'tests/last_release', 1796644335328896);


--
-- Data for Name: events_bf5cf59e3566_d20794; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.events_bf5cf59e3566_d20794 VALUES (1, 2, 'membership', 'page_viewed', 1796644335339990, 1796644335341107, '{"path": "/pricing"}');
INSERT INTO public.events_bf5cf59e3566_d20794 VALUES (2, 2, 'membership', 'signup_started', 1796644335339990, 1796644335341107, '{"plan": "trial"}');
INSERT INTO public.events_bf5cf59e3566_d20794 VALUES (3, 1, 'membership', 'page_viewed', 1796644335339990, 1796644335341107, '{"path": "/"}');


--
-- Data for Name: issued_tokens; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.issued_tokens OVERRIDING SYSTEM VALUE VALUES (1, 'tok_1fbf7400', 'web_frontend', '4a29998876acc344187ee338fc7995510c48e82ce2a50d9caa31c9f702dcbc4b', '2026-12-07T11:52:14.046699+00:00', NULL, NULL, false);


--
-- Data for Name: issued_tokens_version; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.issued_tokens_version VALUES (1, 1);


--
-- Data for Name: pending_erasures; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: pending_records; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: purpose_activity; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.purpose_activity VALUES (1, 'membership', 1796644335339990, 1796644335339990, 1);
INSERT INTO public.purpose_activity VALUES (2, 'membership', 1796644335339990, 1796644335339990, 2);


--
-- Data for Name: signal_counts; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.signal_counts VALUES (1, 'membership', 'page_viewed', 499067, 1);
INSERT INTO public.signal_counts VALUES (2, 'membership', 'page_viewed', 499067, 1);
INSERT INTO public.signal_counts VALUES (2, 'membership', 'signup_started', 499067, 1);


--
-- Data for Name: signal_distinct; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: signal_last; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.signal_last VALUES (2, 'membership', 'signup_started', 'plan', '"trial"', 1796644335339990);


--
-- Data for Name: signal_tracking; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.signal_tracking VALUES ('last_value', 'signup_started', 'plan');


--
-- Data for Name: subjects; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.subjects VALUES (1, 'hmac-sha256:v1:32a26ac35ff7a8e109b03d7b58cd763997e7a3773b6877c38dd14548fd9b1fd6');
INSERT INTO public.subjects VALUES (2, 'hmac-sha256:v1:de6ad9ee364fbc70b26e858ee0292ca8369d06eb46a5257dc7f70ed194a8f3ab');


--
-- Data for Name: suppressed; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: suppression_tombstones; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: tactful_schema; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.tactful_schema VALUES ('access_log', 3, '2026-12-07 11:52:10.408985+00');
INSERT INTO public.tactful_schema VALUES ('behavior', 3, '2026-12-07 11:52:10.68521+00');
INSERT INTO public.tactful_schema VALUES ('budget', 2, '2026-12-07 11:52:10.753191+00');
INSERT INTO public.tactful_schema VALUES ('erasures', 1, '2026-12-07 11:52:10.769843+00');
INSERT INTO public.tactful_schema VALUES ('tokens', 1, '2026-12-07 11:52:10.789708+00');


--
-- Name: access_log_sequence; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.access_log_sequence', 11, true);


--
-- Name: budget_debits_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.budget_debits_id_seq', 1, false);


--
-- Name: consent_history_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.consent_history_id_seq', 2, true);


--
-- Name: events_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.events_id_seq', 3, true);


--
-- Name: issued_tokens_seq_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.issued_tokens_seq_seq', 1, true);


--
-- Name: pending_erasures_ticket_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.pending_erasures_ticket_seq', 1, false);


--
-- Name: subjects_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.subjects_id_seq', 2, true);


--
-- Name: access_log_chains access_log_chains_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.access_log_chains
    ADD CONSTRAINT access_log_chains_pkey PRIMARY KEY (chain_id);


--
-- Name: access_log_epochs access_log_epochs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.access_log_epochs
    ADD CONSTRAINT access_log_epochs_pkey PRIMARY KEY (epoch);


--
-- Name: access_log_heads access_log_heads_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.access_log_heads
    ADD CONSTRAINT access_log_heads_pkey PRIMARY KEY (chain_id);


--
-- Name: access_log_leases access_log_leases_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.access_log_leases
    ADD CONSTRAINT access_log_leases_pkey PRIMARY KEY (chain_id);


--
-- Name: access_log_records access_log_records_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.access_log_records
    ADD CONSTRAINT access_log_records_pkey PRIMARY KEY (sequence);


--
-- Name: access_log_subjects access_log_subjects_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.access_log_subjects
    ADD CONSTRAINT access_log_subjects_pkey PRIMARY KEY (subject, sequence);


--
-- Name: budget_debits budget_debits_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.budget_debits
    ADD CONSTRAINT budget_debits_pkey PRIMARY KEY (id);


--
-- Name: budget_pending_records budget_pending_records_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.budget_pending_records
    ADD CONSTRAINT budget_pending_records_pkey PRIMARY KEY (time_us, request_id);


--
-- Name: consent_history consent_history_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.consent_history
    ADD CONSTRAINT consent_history_pkey PRIMARY KEY (id);


--
-- Name: consent consent_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.consent
    ADD CONSTRAINT consent_pkey PRIMARY KEY (pseudonym, purpose);


--
-- Name: issued_tokens issued_tokens_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.issued_tokens
    ADD CONSTRAINT issued_tokens_pkey PRIMARY KEY (id);


--
-- Name: issued_tokens issued_tokens_sha256_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.issued_tokens
    ADD CONSTRAINT issued_tokens_sha256_key UNIQUE (sha256);


--
-- Name: issued_tokens_version issued_tokens_version_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.issued_tokens_version
    ADD CONSTRAINT issued_tokens_version_pkey PRIMARY KEY (id);


--
-- Name: pending_erasures pending_erasures_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.pending_erasures
    ADD CONSTRAINT pending_erasures_pkey PRIMARY KEY (ticket);


--
-- Name: pending_records pending_records_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.pending_records
    ADD CONSTRAINT pending_records_pkey PRIMARY KEY (time_us, request_id);


--
-- Name: purpose_activity purpose_activity_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.purpose_activity
    ADD CONSTRAINT purpose_activity_pkey PRIMARY KEY (subject_id, purpose);


--
-- Name: signal_counts signal_counts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.signal_counts
    ADD CONSTRAINT signal_counts_pkey PRIMARY KEY (subject_id, purpose, type, hour);


--
-- Name: signal_distinct signal_distinct_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.signal_distinct
    ADD CONSTRAINT signal_distinct_pkey PRIMARY KEY (subject_id, purpose, type, attribute, value);


--
-- Name: signal_last signal_last_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.signal_last
    ADD CONSTRAINT signal_last_pkey PRIMARY KEY (subject_id, purpose, type, attribute);


--
-- Name: signal_tracking signal_tracking_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.signal_tracking
    ADD CONSTRAINT signal_tracking_pkey PRIMARY KEY (kind, type, attribute);


--
-- Name: subjects subjects_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.subjects
    ADD CONSTRAINT subjects_pkey PRIMARY KEY (id);


--
-- Name: subjects subjects_pseudonym_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.subjects
    ADD CONSTRAINT subjects_pseudonym_key UNIQUE (pseudonym);


--
-- Name: suppressed suppressed_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.suppressed
    ADD CONSTRAINT suppressed_pkey PRIMARY KEY (pseudonym);


--
-- Name: suppression_tombstones suppression_tombstones_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.suppression_tombstones
    ADD CONSTRAINT suppression_tombstones_pkey PRIMARY KEY (tombstone);


--
-- Name: tactful_schema tactful_schema_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tactful_schema
    ADD CONSTRAINT tactful_schema_pkey PRIMARY KEY (store);


--
-- Name: access_log_records_chain; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX access_log_records_chain ON public.access_log_records USING btree (chain_id, sequence);


--
-- Name: access_log_records_principal; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX access_log_records_principal ON public.access_log_records USING btree (principal, sequence);


--
-- Name: access_log_records_purpose; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX access_log_records_purpose ON public.access_log_records USING btree (purpose, sequence);


--
-- Name: access_log_records_subject; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX access_log_records_subject ON public.access_log_records USING btree (subject, sequence);


--
-- Name: access_log_records_time_us; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX access_log_records_time_us ON public.access_log_records USING btree (time_us, sequence);


--
-- Name: budget_debits_principal; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX budget_debits_principal ON public.budget_debits USING btree (principal);


--
-- Name: consent_history_pseudonym; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX consent_history_pseudonym ON public.consent_history USING btree (pseudonym);


--
-- Name: events_time; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_time ON ONLY public.events USING btree (occurred_at_us);


--
-- Name: events_bf5cf59e3566_occurred_at_us_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_bf5cf59e3566_occurred_at_us_idx ON ONLY public.events_bf5cf59e3566 USING btree (occurred_at_us);


--
-- Name: events_bf5cf59e3566_d20794_occurred_at_us_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_bf5cf59e3566_d20794_occurred_at_us_idx ON public.events_bf5cf59e3566_d20794 USING btree (occurred_at_us);


--
-- Name: events_subject; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_subject ON ONLY public.events USING btree (subject_id, occurred_at_us);


--
-- Name: events_bf5cf59e3566_subject_id_occurred_at_us_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_bf5cf59e3566_subject_id_occurred_at_us_idx ON ONLY public.events_bf5cf59e3566 USING btree (subject_id, occurred_at_us);


--
-- Name: events_bf5cf59e3566_d20794_subject_id_occurred_at_us_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX events_bf5cf59e3566_d20794_subject_id_occurred_at_us_idx ON public.events_bf5cf59e3566_d20794 USING btree (subject_id, occurred_at_us);


--
-- Name: events_bf5cf59e3566_d20794_occurred_at_us_idx; Type: INDEX ATTACH; Schema: public; Owner: -
--

ALTER INDEX public.events_bf5cf59e3566_occurred_at_us_idx ATTACH PARTITION public.events_bf5cf59e3566_d20794_occurred_at_us_idx;


--
-- Name: events_bf5cf59e3566_d20794_subject_id_occurred_at_us_idx; Type: INDEX ATTACH; Schema: public; Owner: -
--

ALTER INDEX public.events_bf5cf59e3566_subject_id_occurred_at_us_idx ATTACH PARTITION public.events_bf5cf59e3566_d20794_subject_id_occurred_at_us_idx;


--
-- Name: events_bf5cf59e3566_occurred_at_us_idx; Type: INDEX ATTACH; Schema: public; Owner: -
--

ALTER INDEX public.events_time ATTACH PARTITION public.events_bf5cf59e3566_occurred_at_us_idx;


--
-- Name: events_bf5cf59e3566_subject_id_occurred_at_us_idx; Type: INDEX ATTACH; Schema: public; Owner: -
--

ALTER INDEX public.events_subject ATTACH PARTITION public.events_bf5cf59e3566_subject_id_occurred_at_us_idx;


--
-- PostgreSQL database dump complete
--


