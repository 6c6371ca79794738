"""Product recommendations: embeddings, a FAISS index, item-to-item sources, a ranker.

``build_index`` builds (or incrementally updates) and promotes the index and the
candidate sources (EASE, co-purchase, association rules, popularity) with the
trained ranker; ``recommender.get_recommender()`` serves them.
"""
