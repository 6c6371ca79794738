"""Product recommendations: name embeddings, a FAISS index, co-purchases, ranking.

``build_index`` builds and promotes the index; ``recommender.get_recommender()``
serves it.
"""
