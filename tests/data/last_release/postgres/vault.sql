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

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: tactful_schema; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tactful_schema (
    store text NOT NULL,
    version integer NOT NULL,
    migrated_at timestamp with time zone DEFAULT now() NOT NULL
);


--
-- Name: vault_changes; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.vault_changes (
    id integer NOT NULL,
    counter bigint NOT NULL,
    CONSTRAINT vault_changes_id_check CHECK ((id = 1))
);


--
-- Name: vault_data_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.vault_data_keys (
    pseudonym text NOT NULL,
    key_version integer NOT NULL,
    sealed_key bytea NOT NULL
);


--
-- Name: vault_identities; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.vault_identities (
    pseudonym text NOT NULL,
    namespace text NOT NULL,
    sealed_identifier bytea NOT NULL,
    created_at text NOT NULL,
    normalization integer DEFAULT 1 NOT NULL
);


--
-- Name: vault_key_epochs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.vault_key_epochs (
    version integer NOT NULL,
    fingerprint text,
    created_at text NOT NULL,
    retired_at text
);


--
-- Data for Name: tactful_schema; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.tactful_schema VALUES ('vault', 2, '2026-12-07 11:52:10.895638+00');


--
-- Data for Name: vault_changes; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.vault_changes VALUES (1, 0);


--
-- Data for Name: vault_data_keys; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.vault_data_keys VALUES ('hmac-sha256:v1:de6ad9ee364fbc70b26e858ee0292ca8369d06eb46a5257dc7f70ed194a8f3ab', 1, '\x4a9b3cce3604188a3b3852e013257b2fe0c7547cad3d284ca3bb4a030ce1918384ad7bf9081de4203d90694112b9fc64680cd880c9c9d05d37d140b2');
INSERT INTO public.vault_data_keys VALUES ('hmac-sha256:v1:32a26ac35ff7a8e109b03d7b58cd763997e7a3773b6877c38dd14548fd9b1fd6', 1, '\x1f6af8ce7810b50728b6357dda93c3ffafed7c2fbb1f74305c598d8e2dadb79a3518fdb0925d0b00002008551e5695e44b5addc8bd65c53e9130e0d0');


--
-- Data for Name: vault_identities; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.vault_identities VALUES ('hmac-sha256:v1:de6ad9ee364fbc70b26e858ee0292ca8369d06eb46a5257dc7f70ed194a8f3ab', 'email', '\x62a01b7f704fe1ed2631b98864b8ccc8ae37b4b123c2012dbd23d6ee19d8e89130c1ba9737887a9a8c3179', '2026-12-07T11:52:15.341107+00:00', 3);
INSERT INTO public.vault_identities VALUES ('hmac-sha256:v1:32a26ac35ff7a8e109b03d7b58cd763997e7a3773b6877c38dd14548fd9b1fd6', 'email', '\x25e18e9d9a316a8fdad729713fedb93bef46b313773f275e247d9d5870f152c5a0edaaa005fdf3a3df97a2381a', '2026-12-07T11:52:15.341107+00:00', 3);


--
-- Data for Name: vault_key_epochs; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.vault_key_epochs VALUES (1, 'hmac-sha256:0c12e71291062e7c4586dec0934122c3439bad7536067d4ccb8a5e04c5e23e23', '2026-12-07T11:52:15.341107+00:00', NULL);


--
-- Name: tactful_schema tactful_schema_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tactful_schema
    ADD CONSTRAINT tactful_schema_pkey PRIMARY KEY (store);


--
-- Name: vault_changes vault_changes_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.vault_changes
    ADD CONSTRAINT vault_changes_pkey PRIMARY KEY (id);


--
-- Name: vault_data_keys vault_data_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.vault_data_keys
    ADD CONSTRAINT vault_data_keys_pkey PRIMARY KEY (pseudonym);


--
-- Name: vault_identities vault_identities_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.vault_identities
    ADD CONSTRAINT vault_identities_pkey PRIMARY KEY (pseudonym);


--
-- Name: vault_key_epochs vault_key_epochs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.vault_key_epochs
    ADD CONSTRAINT vault_key_epochs_pkey PRIMARY KEY (version);


--
-- Name: vault_data_keys_version; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX vault_data_keys_version ON public.vault_data_keys USING btree (key_version);


--
-- Name: vault_identities_normalization; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX vault_identities_normalization ON public.vault_identities USING btree (normalization, pseudonym);


--
-- Name: vault_data_keys vault_data_keys_pseudonym_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.vault_data_keys
    ADD CONSTRAINT vault_data_keys_pseudonym_fkey FOREIGN KEY (pseudonym) REFERENCES public.vault_identities(pseudonym) ON DELETE CASCADE;


--
-- PostgreSQL database dump complete
--


